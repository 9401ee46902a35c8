/*
 * sprov console: a single-page app over the admin API (/api/v1/...; the
 * contract is docs/CONSOLE.md).  Vanilla JavaScript, no library.  Every
 * piece of data reaches the page as a text node or an attribute value,
 * never as HTML; the Content-Security-Policy allows only this file's
 * script and the stylesheet, both served by sprov itself.
 */
'use strict';
(function () {
	const STATUSES = ['ok', 'behind', 'failing', 'never-seen', 'disabled', 'revoked'];
	const STATUS_LABEL = {
		'ok': 'OK', 'behind': 'Behind', 'failing': 'Failing', 'never-seen': 'Never seen',
		'disabled': 'Disabled', 'revoked': 'Revoked',
	};
	const PAGE = 50;
	const NO_EXPIRY = 253402300799;
	/* The inventory's last-contact filter: seen_after or seen_before, back from now. */
	const SEEN = {
		'1h': { key: 'seen_after', secs: 3600, label: 'Last contact: within 1 hour' },
		'24h': { key: 'seen_after', secs: 86400, label: 'Last contact: within 24 hours' },
		'not-24h': { key: 'seen_before', secs: 86400, label: 'No contact for 24 hours' },
		'not-7d': { key: 'seen_before', secs: 7 * 86400, label: 'No contact for 7 days' },
	};
	const state = { session: null, timer: null, pages: { key: '', stack: [] }, seq: 0 };
	const main = document.getElementById('main');

	/* ---- DOM helpers: text only ---------------------------------------- */

	function attrs(node, a) {
		for (const k in a || {}) {
			const v = a[k];
			if (v === undefined || v === null || v === false)
				continue;
			if (k === 'class')
				node.setAttribute('class', v);
			else if (k === 'data')
				for (const d in v)
					node.dataset[d] = v[d];
			else if (k.startsWith('on'))
				node.addEventListener(k.slice(2), v);
			else
				node.setAttribute(k, v === true ? '' : String(v));
		}
	}
	function append(node, kids) {
		for (const c of Array.isArray(kids) ? kids : [kids]) {
			if (c === undefined || c === null || c === false)
				continue;
			if (Array.isArray(c))
				append(node, c);
			else if (c instanceof Node)
				node.appendChild(c);
			else
				node.appendChild(document.createTextNode(String(c)));
		}
		return node;
	}
	function h(tag, a, ...kids) {
		const n = document.createElement(tag);
		attrs(n, a);
		return append(n, kids);
	}
	const SVGNS = 'http://www.w3.org/2000/svg';
	function s(tag, a, ...kids) {
		const n = document.createElementNS(SVGNS, tag);
		attrs(n, a);
		return append(n, kids);
	}
	function show(...kids) {
		main.replaceChildren();
		append(main, kids);
	}

	/* ---- formatting ------------------------------------------------------ */

	function pad(n) { return n < 10 ? '0' + n : '' + n; }
	function fmtTime(t) {
		if (t === null || t === undefined || t === 0)
			return '—';
		const d = new Date(t * 1000);
		return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) +
		    ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes());
	}
	function span(secs) {
		secs = Math.abs(secs);
		if (secs < 90) return Math.round(secs) + ' s';
		if (secs < 5400) return Math.round(secs / 60) + ' min';
		if (secs < 2 * 86400) return Math.round(secs / 3600) + ' h';
		return Math.round(secs / 86400) + ' days';
	}
	function nowSecs() { return Math.floor(Date.now() / 1000); }
	function ago(t) {
		if (t === null || t === undefined || t === 0)
			return 'never';
		const d = nowSecs() - t;
		return d >= 0 ? span(d) + ' ago' : 'in ' + span(d);
	}
	/* A time shown as "5 min ago", the date on hover. */
	function when(t) {
		return h('span', { title: fmtTime(t) }, ago(t));
	}
	function macColons(m) {
		return m && m.length === 12 ? m.match(/../g).join(':') : (m || '');
	}
	function normMac(m) {
		return String(m || '').toLowerCase().replace(/[^0-9a-f]/g, '');
	}
	function badge(st) {
		return h('span', { class: 'badge ' + st, data: { status: st } }, STATUS_LABEL[st] || st);
	}
	/* A countdown to t: red under 7 days, inverted once past. */
	function countdown(t, id) {
		if (t === null || t === undefined || t === 0)
			return h('span', { class: 'muted', id: id }, 'not known');
		/* 9999-12-31T23:59:59Z: "no well-defined expiration" (RFC 5280 4.1.2.5) */
		if (t >= NO_EXPIRY)
			return h('span', { class: 'countdown', id: id, data: { t: t } }, 'does not expire');
		const d = t - nowSecs();
		let cls = 'countdown', text;
		if (d <= 0) {
			cls += ' gone';
			text = 'passed ' + span(d) + ' ago';
		} else {
			if (d < 7 * 86400)
				cls += ' soon';
			text = d >= 2 * 86400 ? Math.floor(d / 86400) + ' days' : span(d);
		}
		return h('span', { class: cls, id: id, title: fmtTime(t), data: { t: t } }, text);
	}
	function num(n) {
		return (n === null || n === undefined) ? '—' : Number(n).toLocaleString('en-US');
	}

	/* ---- the API --------------------------------------------------------- */

	class ApiError extends Error {
		constructor(status, msg) { super(msg); this.status = status; }
	}
	async function api(method, path, body) {
		const opt = { method: method, headers: { 'Accept': 'application/json' },
		    credentials: 'same-origin', cache: 'no-store' };
		if (method !== 'GET' && state.session && state.session.csrf)
			opt.headers['X-CSRF-Token'] = state.session.csrf;
		if (body !== undefined) {
			opt.headers['Content-Type'] = 'application/json';
			opt.body = JSON.stringify(body);
		}
		const r = await fetch(path, opt);
		let j = null;
		try { j = await r.json(); } catch (e) { j = null; }
		if (!r.ok) {
			if (r.status === 401 && !path.endsWith('/session')) {
				state.session = null;
				loginPanel();
			}
			throw new ApiError(r.status, j && j.error ? j.error : 'HTTP ' + r.status + ' from ' + path);
		}
		return j;
	}
	function q(params) {
		const u = new URLSearchParams();
		for (const k in params)
			if (params[k] !== undefined && params[k] !== null && params[k] !== '')
				u.set(k, params[k]);
		const t = u.toString();
		return t ? '?' + t : '';
	}
	function errorBanner(e) {
		return h('div', { class: 'banner error', role: 'alert' }, e.message || String(e));
	}
	const isAdmin = () => state.session && state.session.role === 'admin';

	/* ---- session --------------------------------------------------------- */

	function loginPanel(msg) {
		document.getElementById('who').replaceChildren();
		document.body.classList.add('logged-out');
		show(h('div', { class: 'panel login', id: 'login' },
		    h('h1', null, 'sprov console'),
		    msg ? h('div', { class: 'banner error' }, msg) : null,
		    h('p', null, 'Open the link from ', h('code', null, 'sprov admin login-url'), '.'),
		    h('p', { class: 'muted small' },
		        'On the provisioning server, run it as an operator; the link is valid for 60 seconds and for one use.')));
	}
	function whoBar() {
		const who = document.getElementById('who');
		who.replaceChildren();
		if (!state.session)
			return;
		append(who, [
		    h('span', { id: 'session-actor', title: 'role ' + state.session.role },
		        state.session.actor, ' · ', state.session.role),
		    state.session.csrf ? h('button', { id: 'logout', type: 'button', onclick: logout }, 'Log out') : null,
		]);
	}
	async function logout() {
		try { await api('POST', '/api/v1/logout', {}); } catch (e) { /* gone already */ }
		state.session = null;
		loginPanel();
	}
	async function start() {
		try {
			state.session = await api('GET', '/api/v1/session');
		} catch (e) {
			if (e.status === 401)
				loginPanel();
			else
				show(errorBanner(e));
			return;
		}
		document.body.classList.remove('logged-out');
		whoBar();
		window.addEventListener('hashchange', route);
		document.addEventListener('keydown', ev => {
			const box = document.getElementById('search');
			if (ev.key === '/' && box && document.activeElement !== box &&
			    !/^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName)) {
				ev.preventDefault();
				box.focus();
			}
		});
		route();
	}

	/* ---- routing --------------------------------------------------------- */

	function parseHash() {
		let hs = location.hash.replace(/^#/, '');
		if (!hs.startsWith('/'))
			hs = '/' + hs;
		const i = hs.indexOf('?');
		const path = i < 0 ? hs : hs.slice(0, i);
		const params = new URLSearchParams(i < 0 ? '' : hs.slice(i + 1));
		return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: params };
	}
	function route() {
		if (state.timer) {
			clearInterval(state.timer);
			state.timer = null;
		}
		if (!state.session)
			return loginPanel();
		const r = parseHash();
		const seq = ++state.seq;
		window.scrollTo(0, 0);   /* a new page starts at its top */
		const name = r.parts[0] || 'overview';
		for (const a of document.querySelectorAll('#nav a'))
			a.classList.toggle('active', a.dataset.route === (name === 'device' ? 'devices' : name));
		let p;
		if (name === 'overview')
			p = overview(seq);
		else if (name === 'devices')
			p = inventory(seq, r.params);
		else if (name === 'device' && r.parts[1])
			p = device(seq, r.parts[1]);
		else if (name === 'audit')
			p = audit(seq, r.params);
		else if (name === 'unknown')
			p = unknown(seq);
		else
			p = Promise.resolve(show(h('div', { class: 'banner warn' }, 'No such page: ', location.hash)));
		p.catch(e => { if (seq === state.seq && e.status !== 401) show(errorBanner(e)); });
	}
	/* True when the page that started at seq is still the one shown. */
	const current = seq => seq === state.seq;

	/* ---- overview -------------------------------------------------------- */

	async function overview(seq, refresh) {
		const sm = await api('GET', '/api/v1/summary');
		if (!current(seq))
			return;
		document.title = 'Overview · sprov console';
		const bs = sm.by_status || {};
		const tiles = h('div', { id: 'overview-status' },
		    h('a', { class: 'tile st-total', href: '#/devices', data: { status: 'all' } },
		        h('div', { class: 'n' }, num(sm.devices)), h('div', { class: 'l' }, 'Devices')),
		    STATUSES.map(st => h('a', {
		        class: 'tile st-' + st + (bs[st] ? '' : ' zero'),
		        href: '#/devices' + q({ status: st }), data: { status: st } },
		        h('div', { class: 'n' }, num(bs[st] || 0)),
		        h('div', { class: 'l' }, STATUS_LABEL[st]))));

		const series = sm.series || { start: 0, step: 300, resyncs: [] };
		const total = (series.resyncs || []).reduce((a, b) => a + b, 0);
		show(
		    h('div', { class: 'page-head' }, h('h1', null, 'Overview'),
		        h('span', { class: 'sub' }, 'node ', (sm.server && sm.server.node) || '—',
		            ' · ', num(sm.pending), ' pending · updated ', fmtTime(sm.now))),
		    tiles,
		    h('div', { class: 'panel' },
		        h('h2', null, 'Resyncs per 5 minutes, last 24 hours',
		            h('span', { class: 'muted small' }, ' · ', num(total), ' in all')),
		        chart(series)),
		    h('div', { class: 'grid three' },
		        h('div', { class: 'panel' }, h('h2', null, 'Handshake failures, last 24 hours'),
		            failureBars(sm.failures_24h || {})),
		        h('div', { class: 'panel', id: 'expiry' }, h('h2', null, 'Certificates and CRLs'),
		            expiry(sm.server || {})),
		        h('div', { class: 'panel' }, h('h2', null, 'Nodes'), nodes(sm.nodes || []))));
		/* The overview follows the server while it is shown. */
		if (!refresh)
			state.timer = setInterval(() => {
				if (current(seq) && !document.hidden)
					overview(seq, true).catch(() => {});
			}, 30000);
	}

	function niceMax(v) {
		if (v <= 4)
			return 4;
		const e = Math.pow(10, Math.floor(Math.log10(v)));
		for (const m of [1, 2, 2.5, 5, 10])
			if (m * e >= v)
				return m * e;
		return 10 * e;
	}
	/* The resync series as an SVG bar chart with axes and hour labels. */
	function chart(series) {
		const W = 1200, H = 230, L = 44, R = 10, T = 10, B = 26;
		const v = series.resyncs || [];
		const n = Math.max(v.length, 1);
		const max = niceMax(Math.max(0, ...v));
		const pw = W - L - R, ph = H - T - B, bw = pw / n;
		const y = x => T + ph - (x / max) * ph;
		const g = s('svg', { id: 'chart-resyncs', class: 'chart', viewBox: '0 0 ' + W + ' ' + H,
		    role: 'img', 'aria-label': 'resyncs per 5 minutes over the last 24 hours' });
		for (let i = 0; i <= 4; i++) {
			const val = max * i / 4;
			append(g, [s('line', { class: 'grid-line', x1: L, x2: W - R, y1: y(val), y2: y(val) }),
			    s('text', { x: L - 6, y: y(val) + 4, 'text-anchor': 'end' }, num(Math.round(val)))]);
		}
		v.forEach((c, i) => {
			if (!c)
				return;
			const t = series.start + i * series.step;
			append(g, s('rect', { class: 'bar', x: (L + i * bw + 0.4).toFixed(1),
			    y: y(c).toFixed(1), width: Math.max(bw - 0.8, 0.8).toFixed(1),
			    height: (T + ph - y(c)).toFixed(1), data: { t: t, n: c } },
			    s('title', null, fmtTime(t) + ': ' + c + ' resync' + (c === 1 ? '' : 's'))));
		});
		append(g, [s('line', { class: 'axis', x1: L, x2: W - R, y1: T + ph, y2: T + ph }),
		    s('line', { class: 'axis', x1: L, x2: L, y1: T, y2: T + ph })]);
		/* An hour label every 3 hours, on the local hour. */
		for (let i = 0; i < n; i++) {
			const d = new Date((series.start + i * series.step) * 1000);
			if (d.getMinutes() < series.step / 60 && d.getHours() % 3 === 0) {
				const x = L + i * bw;
				append(g, [s('line', { class: 'axis', x1: x, x2: x, y1: T + ph, y2: T + ph + 4 }),
				    s('text', { x: x, y: H - 8, 'text-anchor': 'middle' }, pad(d.getHours()) + ':00')]);
			}
		}
		return g;
	}

	function failureBars(f) {
		const rows = Object.keys(f).filter(k => f[k] > 0).sort((a, b) => f[b] - f[a]);
		if (!rows.length)
			return h('p', { class: 'muted', id: 'failures-24h' }, 'No handshake failures in the last 24 hours.');
		const max = f[rows[0]];
		return h('ul', { class: 'bars', id: 'failures-24h' }, rows.map(r => {
			const fill = h('div', { class: 'fill ' + r });
			fill.style.width = (100 * f[r] / max).toFixed(1) + '%';
			return h('li', { data: { reason: r } }, h('span', null, r),
			    h('div', { class: 'track' }, fill), h('span', { class: 'count' }, num(f[r])));
		}));
	}

	function expiry(srv) {
		const dl = h('dl', { class: 'kv' },
		    h('dt', null, 'Server certificate'),
		    h('dd', null, countdown(srv.cert_not_after, 'cert-expiry'),
		        h('div', { class: 'muted small' }, 'expires ', fmtTime(srv.cert_not_after))));
		for (const c of srv.crls || [])
			append(dl, [h('dt', null, 'CRL of ', c.issuer),
			    h('dd', null, countdown(c.next_update),
			        h('div', { class: 'muted small' }, 'next update ', fmtTime(c.next_update)))]);
		if (!(srv.crls || []).length)
			append(dl, [h('dt', null, 'CRLs'), h('dd', { class: 'muted' }, 'none loaded')]);
		return dl;
	}

	function nodes(list) {
		if (!list.length)
			return h('p', { class: 'muted' }, 'No node has published its state in the last 5 minutes.');
		return h('table', { id: 'nodes' },
		    h('thead', null, h('tr', null, h('th', null, 'Node'), h('th', null, 'Up'),
		        h('th', { class: 'num' }, 'Open'), h('th', { class: 'num' }, 'Requests'), h('th', null, 'Store'))),
		    h('tbody', null, list.map(nd => h('tr', { data: { node: nd.name } },
		        h('td', null, h('b', null, nd.name),
		            h('div', { class: 'muted small' }, nd.backend, ' · ', nd.version, ' · seen ', ago(nd.seen))),
		        h('td', { title: 'started ' + fmtTime(nd.started) }, span(nowSecs() - nd.started)),
		        h('td', { class: 'num' }, num(nd.open)),
		        h('td', { class: 'num' }, num(nd.requests)),
		        h('td', null, nd.store_up ? h('span', { class: 'badge ok' }, 'up') :
		            h('span', { class: 'badge failing' }, 'down'))))));
	}

	/* ---- inventory ------------------------------------------------------- */

	async function inventory(seq, params) {
		const query = {
			q: params.get('q') || '', status: params.get('status') || '',
			sort: params.get('sort') || 'mac', order: params.get('order') || 'asc',
			seen: SEEN[params.get('seen')] ? params.get('seen') : '', t: params.get('t') || '',
		};
		/* The last-contact filter counts back from t, the time it was
		 * chosen, so that paging through it asks the same query. */
		const filter = { q: query.q, status: query.status, sort: query.sort, order: query.order };
		if (query.seen) {
			const sn = SEEN[query.seen], t = parseInt(query.t, 10) || nowSecs();
			filter[sn.key] = t - sn.secs;
		}
		const key = JSON.stringify(query);
		if (state.pages.key !== key)
			state.pages = { key: key, stack: [] };
		const after = params.get('after') || '';
		/* The cursors of the pages before this one, for "Previous". */
		const stack = state.pages.stack;
		const at = stack.indexOf(after);
		if (after === '')
			stack.length = 0;
		else if (at >= 0)
			stack.length = at + 1;
		else
			stack.push(after);
		const res = await api('GET', '/api/v1/devices' + q(Object.assign({ limit: PAGE, after: after }, filter)));
		if (!current(seq))
			return;
		document.title = 'Devices · sprov console';
		const link = over => '#/devices' + q(Object.assign({}, query, over));

		const search = h('input', { id: 'search', type: 'search', value: query.q,
		    placeholder: 'MAC, serial, product or group', 'aria-label': 'search devices',
		    autocomplete: 'off', spellcheck: 'false' });
		const form = h('form', { id: 'search-form', role: 'search', onsubmit: ev => {
			ev.preventDefault();
			location.hash = link({ q: search.value.trim(), after: '' });
		} }, search, h('button', { id: 'search-go', type: 'submit', class: 'primary' }, 'Search'));
		const chips = h('div', { class: 'chips', id: 'status-filter' },
		    h('a', { class: 'chip' + (query.status ? '' : ' active'), href: link({ status: '' }), data: { status: '' } }, 'All'),
		    STATUSES.map(st => h('a', { class: 'chip' + (query.status === st ? ' active' : ''),
		        href: link({ status: st }), data: { status: st } }, STATUS_LABEL[st])));

		const seen = h('select', { id: 'seen-filter', 'aria-label': 'last contact', onchange: () => {
			location.hash = link({ seen: seen.value, t: seen.value ? nowSecs() : '' });
		} }, h('option', { value: '' }, 'Last contact: any time'),
		    Object.keys(SEEN).map(k => h('option', { value: k, selected: k === query.seen }, SEEN[k].label)));

		const col = (label, sortKey, cls) => {
			if (!sortKey)
				return h('th', { class: cls }, label);
			const on = query.sort === sortKey;
			const order = on && query.order === 'asc' ? 'desc' : 'asc';
			return h('th', { class: 'sortable' + (on ? ' sorted' + (query.order === 'desc' ? ' desc' : '') : ''),
			    data: { sort: sortKey }, title: 'sort by ' + label.toLowerCase(),
			    onclick: () => { location.hash = link({ sort: sortKey, order: order }); } }, label);
		};
		const rows = (res.devices || []).map(d => {
			const open = () => { location.hash = '#/device/' + d.mac; };
			return h('tr', { class: 'click', tabindex: 0, data: { mac: d.mac, status: d.status },
			    onclick: open, onkeydown: ev => { if (ev.key === 'Enter') open(); } },
			    h('td', { class: 'mac' }, h('a', { href: '#/device/' + d.mac }, macColons(d.mac))),
			    h('td', null, d.serial), h('td', null, d.product), h('td', null, d.group || '—'),
			    h('td', null, badge(d.status)),
			    h('td', null, d.last_seen ? when(d.last_seen) : h('span', { class: 'muted' }, 'never')),
			    h('td', null, d.last_ip || '—', d.last_http ? h('span', { class: 'muted small' }, ' · ', d.last_http) : null),
			    h('td', null, d.last_failure ? [d.last_failure.reason, h('div', { class: 'muted small' }, ago(d.last_failure.time))] : '—'),
			    h('td', null, d.cert ? h('span', { title: 'serial ' + d.cert.serial },
			        d.cert.not_after >= NO_EXPIRY ? 'never' : fmtTime(d.cert.not_after).slice(0, 10)) : '—'));
		});
		const table = h('div', { class: 'table-wrap' }, h('table', { id: 'inventory' },
		    h('thead', null, h('tr', null, col('MAC', 'mac'), col('Serial', 'serial'), col('Product'),
		        col('Group'), col('Status'), col('Last seen', 'last-seen'), col('Last IP'),
		        col('Last failure'), col('Cert expires'))),
		    h('tbody', null, rows)),
		    rows.length ? null : h('div', { class: 'empty' }, 'No device matches.'));
		const prevAfter = stack.length >= 2 ? stack[stack.length - 2] : '';
		const pager = h('div', { class: 'pager' },
		    h('span', { class: 'muted small' }, 'page ', stack.length + 1, ' · ', rows.length, ' shown'),
		    h('button', { id: 'page-prev', type: 'button', disabled: stack.length === 0,
		        onclick: () => { location.hash = link({ after: prevAfter }); } }, '← Previous'),
		    h('button', { id: 'page-next', type: 'button', disabled: !res.next,
		        onclick: () => { location.hash = link({ after: res.next }); } }, 'Next →'));
		show(h('div', { class: 'page-head' }, h('h1', null, 'Devices')),
		    h('div', { class: 'toolbar' }, form, chips, seen), table, pager);
		if (!query.q)
			search.focus();
	}

	/* ---- device page ----------------------------------------------------- */

	async function device(seq, macArg, note) {
		const mac = normMac(macArg);
		const res = await api('GET', '/api/v1/devices/' + encodeURIComponent(mac));
		if (!current(seq))
			return;
		const d = res.device;
		document.title = macColons(d.mac) + ' · sprov console';
		const reload = msg => device(seq, mac, msg).catch(e => { if (current(seq)) show(errorBanner(e)); });

		const head = h('div', { class: 'page-head' },
		    h('h1', { id: 'device-mac', class: 'mac', data: { mac: d.mac } }, macColons(d.mac)),
		    h('span', { id: 'device-status', class: 'badge big ' + d.status, data: { status: d.status } },
		        STATUS_LABEL[d.status] || d.status),
		    d.pending ? h('span', { class: 'badge pending' }, 'pending') : null,
		    h('span', { class: 'sub' }, d.serial, ' · ', d.product, d.group ? ' · group ' + d.group : ''));

		const identity = h('div', { class: 'panel' }, h('h2', null, 'Identity'), h('dl', { class: 'kv' },
		    h('dt', null, 'Serial'), h('dd', { id: 'device-serial' }, d.serial || '—'),
		    h('dt', null, 'Product'), h('dd', null, d.product || '—'),
		    h('dt', null, 'Group'), h('dd', null, d.group || '—'),
		    h('dt', null, 'Enabled'), h('dd', null, d.enabled ? 'yes' : 'no'),
		    h('dt', null, 'In the database since'), h('dd', null, fmtTime(d.created)),
		    h('dt', null, 'Last contact'), h('dd', null, d.last_seen ? [when(d.last_seen), ' from ', d.last_ip || '?',
		        d.last_http ? ', HTTP ' + d.last_http : ''] : 'never'),
		    h('dt', null, 'User-Agent'), h('dd', { class: 'small' }, d.user_agent || '—')));

		const cert = h('div', { class: 'panel' }, h('h2', null, 'Certificate'), d.cert ?
		    h('dl', { class: 'kv' },
		        h('dt', null, 'Serial'), h('dd', { class: 'mono', id: 'cert-serial' }, d.cert.serial),
		        h('dt', null, 'Expires'), h('dd', null, countdown(d.cert.not_after, 'cert-not-after'),
		            h('div', { class: 'muted small' }, fmtTime(d.cert.not_after)))) :
		    h('p', { class: 'muted' }, 'No certificate seen yet.'));

		const dr = Object.assign({}, res.drift);
		/* Two different ETags mean its next resync gets a new profile,
		 * whatever else its status says (revoked, failing). */
		if (dr.fetched_etag && dr.current_etag && dr.fetched_etag !== dr.current_etag)
			dr.behind = true;
		const drift = h('div', { class: 'panel', id: 'drift' }, h('h2', null, 'Profile drift'),
		    h('p', null, dr.behind ? h('span', { class: 'badge behind', id: 'drift-state' }, 'behind') :
		        h('span', { class: 'badge ok', id: 'drift-state' }, 'current'), ' ',
		        dr.behind ? 'It has not fetched its current profile.' :
		            (dr.fetched_etag ? 'It runs its current profile.' : 'It has not fetched a profile yet.')),
		    h('dl', { class: 'kv' },
		        h('dt', null, 'Fetched'), h('dd', { class: 'etag' }, dr.fetched_etag || '—'),
		        h('dt', null, 'Current'), h('dd', { class: 'etag' }, dr.current_etag || '—')));

		const fr = res.failures || {};
		const reasons = Object.keys(fr).filter(k => fr[k] > 0).sort((a, b) => fr[b] - fr[a]);
		const failures = h('div', { class: 'panel' }, h('h2', null, 'Failure reasons'),
		    h('ul', { id: 'failures' }, reasons.length ? reasons.map(r =>
		        h('li', { data: { reason: r } }, h('span', null, r), h('span', { class: 'count' }, '× ' + num(fr[r])))) :
		        h('li', { class: 'muted' }, 'None recorded.')));

		const events = (res.events || []).slice().sort((a, b) => b.time - a.time);
		const timeline = h('div', { class: 'panel' }, h('h2', null, 'Timeline'),
		    events.length ? h('ol', { class: 'timeline', id: 'timeline' }, events.map(ev =>
		        h('li', { data: { kind: ev.kind } },
		            h('span', { title: ago(ev.time) }, fmtTime(ev.time)),
		            ev.kind === 'failure' ?
		                h('span', { class: 'what' }, h('span', { class: 'dot fail' }),
		                    h('b', null, ev.reason), ev.count > 1 ? ' × ' + ev.count : '',
		                    ev.ip ? ' from ' + ev.ip : '', ev.detail ? h('div', { class: 'muted small' }, ev.detail) : null) :
		                h('span', { class: 'what' }, h('span', { class: 'dot' + (ev.http >= 400 ? ' fail' : '') }),
		                    'HTTP ', h('b', null, ev.http), ev.ip ? ' from ' + ev.ip : '',
		                    ev.etag ? h('span', { class: 'etag muted small' }, ' ', ev.etag) : null)))) :
		        h('p', { class: 'muted' }, 'No contact or failure recorded.'));

		const paramsPanel = params(d, res.params || [], reload);
		const auditPanel = h('div', { class: 'panel' }, h('h2', null, 'Audit'),
		    auditTable(res.audit || [], 'device-audit'),
		    h('p', { class: 'small' }, h('a', { href: '#/audit' + q({ device: d.mac }) }, 'All audit entries for this device →')));

		show(note ? h('div', { class: 'banner good', id: 'notice' }, note) : null, head,
		    h('div', { class: 'grid three' }, identity, cert, drift),
		    h('div', { class: 'grid two' }, failures, timeline),
		    paramsPanel, auditPanel);
	}

	/* The parameters as served, secrets masked, and the edit form. */
	function params(d, list, reload) {
		const name = h('input', { id: 'param-edit-name', type: 'text', placeholder: 'Parameter, e.g. Proxy_1_',
		    required: true, autocomplete: 'off', spellcheck: 'false', 'aria-label': 'parameter name' });
		const value = h('input', { id: 'param-edit-value', type: 'text', placeholder: 'Value for this device',
		    autocomplete: 'off', spellcheck: 'false', 'aria-label': 'parameter value' });
		const access = h('select', { id: 'param-edit-access', 'aria-label': 'access' },
		    h('option', { value: '' }, 'access: keep'), ['rw', 'ro', 'na'].map(a => h('option', { value: a }, a)));
		const msg = h('div', { id: 'param-edit-msg' });
		/* Where a change lands: this device (the default), or a level it
		 * inherits from, which changes every device there. */
		const levels = [['device', 'this device', 'device/' + d.mac]];
		if (d.group)
			levels.push(['group', 'group ' + d.group, 'group/' + encodeURIComponent(d.group)]);
		if (d.product)
			levels.push(['product', 'product ' + d.product, 'product/' + encodeURIComponent(d.product)]);
		levels.push(['defaults', 'defaults (every device)', 'defaults']);
		const level = h('select', { id: 'param-edit-level', 'aria-label': 'level' },
		    levels.map(l => h('option', { value: l[0] }, 'for ' + l[1])));
		const where = () => levels.find(l => l[0] === level.value) || levels[0];
		const target = n => '/api/v1/params/' + where()[2] + '/' + encodeURIComponent(n);
		const save = async ev => {
			ev.preventDefault();
			const n = name.value.trim();
			if (!n)
				return;
			const body = { value: value.value };
			if (access.value)
				body.access = access.value;
			try {
				await api('PUT', target(n), body);
				reload('Set ' + n + ' for ' + where()[1] + '.');
			} catch (e) {
				msg.replaceChildren(errorBanner(e));
			}
		};
		const unset = async () => {
			const n = name.value.trim();
			if (!n)
				return;
			try {
				await api('DELETE', target(n));
				reload('Unset ' + n + ' for ' + where()[1] + '.');
			} catch (e) {
				msg.replaceChildren(errorBanner(e));
			}
		};
		const edit = isAdmin() ? h('div', null, h('h2', { class: 'edit-head' }, 'Change a parameter'),
		    h('form', { class: 'edit', id: 'param-edit', onsubmit: save }, name, value, level, access,
		        h('button', { id: 'param-edit-save', type: 'submit', class: 'primary' }, 'Save'),
		        h('button', { id: 'param-edit-unset', type: 'button', class: 'danger', onclick: unset }, 'Unset')),
		    msg) : h('p', { class: 'muted small' }, 'Read-only session: parameters cannot be changed.');

		const rows = list.map(p => {
			const val = h('td', { class: 'mono value' });
			const setMasked = () => {
				val.replaceChildren(h('span', { class: 'badge secret' }, 'secret'),
				    isAdmin() ? h('button', { type: 'button', class: 'link reveal', onclick: reveal }, 'reveal') : null);
			};
			const reveal = async ev => {
				ev.stopPropagation();
				try {
					const r = await api('POST', '/api/v1/devices/' + d.mac + '/params/' + encodeURIComponent(p.name) + '/reveal', {});
					val.replaceChildren(h('span', { class: 'revealed' }, r.value),
					    h('button', { type: 'button', class: 'link', onclick: e2 => { e2.stopPropagation(); setMasked(); } }, 'hide'));
				} catch (e) {
					val.replaceChildren(errorBanner(e));
				}
			};
			if (p.secret && (p.value === null || p.value === undefined))
				setMasked();
			else
				val.textContent = p.value === null ? '' : p.value;
			return h('tr', { data: { name: p.name, level: p.level }, class: isAdmin() ? 'click' : null,
			    title: isAdmin() ? 'edit' : null, onclick: () => {
				if (!isAdmin())
					return;
				name.value = p.name;
				value.value = p.secret ? '' : (p.value || '');
				value.focus();
			} }, h('td', { class: 'mono' }, p.name), val, h('td', null, p.level), h('td', null, p.access || '—'));
		});
		return h('div', { class: 'panel' }, h('h2', null, 'Parameters as served'),
		    h('div', { class: 'table-wrap' }, h('table', { id: 'params' },
		        h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Value'),
		            h('th', null, 'From'), h('th', null, 'Access'))),
		        h('tbody', null, rows)), rows.length ? null : h('div', { class: 'empty' }, 'No parameters.')),
		    edit);
	}

	/* ---- audit ----------------------------------------------------------- */

	/* An audit entry's detail object as "key: value" pairs, text only. */
	function detail(o) {
		if (o === null || o === undefined)
			return '';
		if (typeof o !== 'object')
			return String(o);
		const val = v => v === null || v === undefined || v === '' ? '—' :
		    (typeof v === 'object' ? JSON.stringify(v) : String(v));
		return h('span', { class: 'detail-json' }, Object.keys(o).map((k, i) => [i ? ' · ' : '', h('b', null, k), ' ',
		    val(o[k])]));
	}
	function auditTable(entries, id) {
		const target = t => /^[0-9a-f]{12}$/.test(t || '') ? h('a', { href: '#/device/' + t, class: 'mono' }, t) : (t || '—');
		return h('div', { class: 'table-wrap' }, h('table', { id: id },
		    h('thead', null, h('tr', null, h('th', { class: 'num' }, '#'), h('th', null, 'When'),
		        h('th', null, 'Who'), h('th', null, 'Action'), h('th', null, 'Target'), h('th', null, 'Detail'))),
		    h('tbody', null, entries.map(e => h('tr', { data: { action: e.action, target: e.target || '', seq: e.seq } },
		        h('td', { class: 'num' }, e.seq), h('td', { title: ago(e.time) }, fmtTime(e.time)),
		        h('td', null, e.actor), h('td', null, h('b', null, e.action)), h('td', null, target(e.target)),
		        h('td', null, detail(e.detail)))))),
		    entries.length ? null : h('div', { class: 'empty' }, 'No audit entries.'));
	}
	async function audit(seq, params) {
		const dev = normMac(params.get('device') || '');
		const res = await api('GET', '/api/v1/audit' + q({ device: dev, limit: 200 }));
		if (!current(seq))
			return;
		document.title = 'Audit · sprov console';
		const result = h('div', { id: 'verify-result' });
		const verify = async () => {
			result.replaceChildren(h('div', { class: 'banner warn' }, 'Verifying…'));
			try {
				const v = await api('GET', '/api/v1/audit/verify');
				result.replaceChildren(v.intact ?
				    h('div', { class: 'banner good', data: { intact: 'true' } }, 'The audit trail is intact: ',
				        num(v.entries), ' entries, each chained to the one before.') :
				    h('div', { class: 'banner error', data: { intact: 'false' } }, 'The audit trail was tampered with: ', v.error));
			} catch (e) {
				result.replaceChildren(errorBanner(e));
			}
		};
		const filter = h('input', { id: 'audit-device', type: 'search', value: dev, placeholder: 'device MAC',
		    'aria-label': 'device MAC', spellcheck: 'false' });
		show(h('div', { class: 'page-head' }, h('h1', null, 'Audit trail'),
		        h('span', { class: 'sub' }, dev ? 'device ' + macColons(dev) + ' · ' : '', 'newest first')),
		    h('div', { class: 'toolbar' },
		        h('form', { onsubmit: ev => { ev.preventDefault(); location.hash = '#/audit' + q({ device: normMac(filter.value) }); } },
		            filter, h('button', { type: 'submit' }, 'Filter')),
		        h('button', { id: 'audit-verify', type: 'button', class: 'primary', onclick: verify }, 'Verify the chain')),
		    result, auditTable(res.entries || [], 'audit'));
	}

	/* ---- unknown devices ------------------------------------------------- */

	async function unknown(seq) {
		const res = await api('GET', '/api/v1/unknown' + q({ limit: 500 }));
		if (!current(seq))
			return;
		document.title = 'Unknown devices · sprov console';
		const list = res.unknown || [];
		show(h('div', { class: 'page-head' }, h('h1', null, 'Unknown devices'),
		        h('span', { class: 'sub' }, 'Seen by the server but not in the database, or refused before they named one')),
		    h('div', { class: 'table-wrap' }, h('table', { id: 'unknown' },
		        h('thead', null, h('tr', null, h('th', null, 'MAC'), h('th', null, 'Serial'), h('th', null, 'Product'),
		            h('th', null, 'Address'), h('th', null, 'Reason'), h('th', { class: 'num' }, 'Count'),
		            h('th', null, 'First seen'), h('th', null, 'Last seen'))),
		        h('tbody', null, list.map(u => h('tr', { data: { mac: u.mac || '', reason: u.reason || '' } },
		            h('td', { class: 'mac' }, u.mac ? macColons(u.mac) : h('span', { class: 'muted' }, 'none named'),
		                u.pending ? [' ', h('span', { class: 'badge pending' }, 'pending')] : null),
		            h('td', null, u.serial || '—'), h('td', null, u.product || '—'), h('td', null, u.ip || '—'),
		            h('td', null, u.reason || '—'), h('td', { class: 'num' }, num(u.count)),
		            h('td', null, when(u.first_seen)), h('td', null, when(u.last_seen)))))),
		        list.length ? null : h('div', { class: 'empty' }, 'No unknown devices seen.')));
	}

	start();
})();
