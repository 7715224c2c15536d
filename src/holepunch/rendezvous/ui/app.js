// The operator page: polls the rendezvous's /debug/stats, /debug/pairs and /debug/workers (README: Operator page)
// and draws them. Every text that came from a worker is set with textContent, never parsed as HTML.
'use strict';
(() => {
  const POLL_MS = 3000;
  const TOKEN_KEY = 'holepunch-token';
  const SVG = 'http://www.w3.org/2000/svg';
  const NATS = ['none', 'endpoint-independent', 'endpoint-dependent', 'unknown'];
  const $ = (id) => document.getElementById(id);
  let timer = null;
  let busy = false;

  function showError(text) {
    const box = $('errors');
    box.hidden = false;
    box.textContent = text;
  }
  window.addEventListener('error', (e) => showError('page error: ' + e.message));
  window.addEventListener('unhandledrejection', (e) => showError('page error: ' + e.reason));

  // A token in the fragment (#token=...) is taken once and removed from the address bar: fragments never reach the server.
  function takeTokenFromFragment() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, '', location.pathname + location.search);
    }
  }

  async function get(path) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    const r = await fetch(path, { headers, cache: 'no-store' });
    if (r.status === 401) {
      const e = new Error('unauthorized');
      e.unauthorized = true;
      throw e;
    }
    if (r.status === 403) return { forbidden: (await r.json()).detail };
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function svgEl(tag, attrs, title) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (title) {
      const t = document.createElementNS(SVG, 'title');
      t.textContent = title;
      e.appendChild(t);
    }
    return e;
  }

  function bytes(n) {
    if (n < 1024) return n + ' B';
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let v = n / 1024, i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return v.toFixed(v < 10 ? 1 : 0) + ' ' + units[i];
  }

  function ms(n) {
    if (n === null || n === undefined) return '–';
    return n < 1000 ? n + ' ms' : (n / 1000).toFixed(n < 10000 ? 1 : 0) + ' s';
  }

  function clock(t) {
    return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function ago(t, now) {
    const s = Math.max(0, Math.round((now - t) / 1000));
    return s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
  }

  // ---- stats and charts

  function drawOutcomes(minutes) {
    const svg = $('chart-outcomes');
    svg.replaceChildren();
    const max = Math.max(1, ...minutes.map((m) => m.direct + m.relay + m.failed));
    const w = 600 / minutes.length;
    minutes.forEach((m, i) => {
      let y = 110;
      const label = clock(m.start_ms) + ': ' + m.direct + ' direct, ' + m.relay + ' relayed, ' + m.failed + ' failed, '
        + m.introduced + ' introduced';
      for (const kind of ['direct', 'relay', 'failed']) {
        const h = (m[kind] / max) * 100;
        if (h > 0) {
          y -= h;
          svg.appendChild(svgEl('rect', { x: i * w + 1, y, width: Math.max(1, w - 2), height: h, class: kind,
            'data-minute': m.start_ms, 'data-kind': kind, 'data-count': m[kind] }, label));
        }
      }
    });
    svg.appendChild(svgEl('text', { x: 2, y: 119 }, null)).textContent = '−60 min';
    svg.appendChild(svgEl('text', { x: 570, y: 119 }, null)).textContent = 'now';
    svg.appendChild(svgEl('text', { x: 2, y: 9 }, null)).textContent = 'max ' + max + '/min';
  }

  function drawTimeToDirect(ttd) {
    const svg = $('chart-ttd');
    svg.replaceChildren();
    const n = ttd.counts.length;
    const max = Math.max(1, ...ttd.counts);
    const w = 600 / n;
    ttd.counts.forEach((c, i) => {
      const name = i < ttd.bounds_s.length ? '≤ ' + ttd.bounds_s[i] + ' s' : '> ' + ttd.bounds_s[ttd.bounds_s.length - 1] + ' s';
      const h = (c / max) * 95;
      svg.appendChild(svgEl('rect', { x: i * w + 4, y: 105 - h, width: w - 8, height: h, class: 'bar', 'data-bucket': name,
        'data-count': c }, name + ': ' + c + ' pairs'));
      svg.appendChild(svgEl('text', { x: i * w + 4, y: 117 }, null)).textContent = name;
    });
  }

  function drawRelayed(minutes) {
    const svg = $('chart-relay');
    svg.replaceChildren();
    const max = Math.max(1, ...minutes.map((m) => m.relayed_bytes));
    const w = 600 / minutes.length;
    minutes.forEach((m, i) => {
      const h = (m.relayed_bytes / max) * 100;
      if (h > 0) {
        svg.appendChild(svgEl('rect', { x: i * w + 1, y: 110 - h, width: Math.max(1, w - 2), height: h, class: 'bar',
          'data-minute': m.start_ms, 'data-bytes': m.relayed_bytes },
          clock(m.start_ms) + ': ' + bytes(m.relayed_bytes) + ' (' + bytes(Math.round(m.relayed_bytes / 60)) + '/s)'));
      }
    });
    svg.appendChild(svgEl('text', { x: 2, y: 9 }, null)).textContent = 'max ' + bytes(max) + '/min';
  }

  function drawGrid(grid) {
    const table = $('nat-grid');
    table.replaceChildren();
    const cell = {};
    for (const g of grid) cell[g.initiator_nat + '|' + g.responder_nat] = g;
    const head = el('tr');
    head.appendChild(el('th', ''));
    NATS.forEach((n) => head.appendChild(el('th', n)));
    table.appendChild(head);
    for (const a of NATS) {
      const row = el('tr');
      row.appendChild(el('th', a));
      for (const b of NATS) {
        const g = cell[a + '|' + b];
        const total = g ? g.direct + g.relay + g.failed : 0;
        const td = el('td', total ? Math.round((100 * g.direct) / total) + '% of ' + total : '');
        td.dataset.nat = a + '|' + b;
        if (total) {
          td.title = g.direct + ' direct, ' + g.relay + ' relayed, ' + g.failed + ' failed';
          const share = g.direct / total;
          td.style.background = 'hsl(' + Math.round(share * 120) + ', 60%, 85%)';
        }
        row.appendChild(td);
      }
      table.appendChild(row);
    }
  }

  function median(ttd) {
    const total = ttd.counts.reduce((a, b) => a + b, 0);
    if (!total) return null;
    let seen = 0;
    for (let i = 0; i < ttd.counts.length; i++) {
      seen += ttd.counts[i];
      if (seen * 2 >= total) return i < ttd.bounds_s.length ? '≤ ' + ttd.bounds_s[i] + ' s' : '> ' + ttd.bounds_s[i - 1] + ' s';
    }
    return null;
  }

  function showStats(s) {
    $('instance').textContent = s.instance ? 'instance ' + s.instance + (s.instances ? ' (of ' + s.instances + ')' : '') : '';
    $('sessions').textContent = s.sessions;
    $('live-pairs').textContent = s.live_pairs;
    const hour = s.minutes.reduce((a, m) => ({ direct: a.direct + m.direct, decided: a.decided + m.direct + m.relay + m.failed,
      relayed: a.relayed + m.relayed_bytes }), { direct: 0, decided: 0, relayed: 0 });
    $('pairs-hour').textContent = hour.decided;
    $('direct-rate').textContent = hour.decided ? Math.round((100 * hour.direct) / hour.decided) + '%' : '–';
    $('median-ttd').textContent = median(s.time_to_direct) || '–';
    $('relayed-hour').textContent = bytes(hour.relayed);
    drawOutcomes(s.minutes);
    drawTimeToDirect(s.time_to_direct);
    drawRelayed(s.minutes);
    drawGrid(s.nat_grid);
  }

  // ---- tables

  function rttOf(p) {
    let best = null;
    for (const side in p.outcomes) {
      const r = p.outcomes[side].rtt_ms;
      if (typeof r === 'number' && (best === null || r < best)) best = r;
    }
    return best;
  }

  function why(p) {
    if (p.outcome === 'direct') return '';
    const parts = [];
    for (const side in p.outcomes) {
      const o = p.outcomes[side];
      if (o.detail) parts.push(side + ': ' + o.detail);
    }
    if (!parts.length) return Object.keys(p.outcomes).length ? '' : 'no side has reported yet (an original worker never does)';
    return parts.join('\n');
  }

  function forbidden(table, counter, r) {
    const body = $(table).tBodies[0];
    body.replaceChildren();
    const tr = el('tr');
    const td = el('td', r.forbidden, 'muted');
    td.colSpan = $(table).tHead.rows[0].cells.length;
    tr.appendChild(td);
    body.appendChild(tr);
    $(counter).textContent = '';
  }

  function showPairs(r, now) {
    if (r.forbidden) return forbidden('pairs', 'pairs-matched', r);
    const body = $('pairs').tBodies[0];
    body.replaceChildren();
    $('pairs-matched').textContent = r.matched + ' match' + (r.matched > r.pairs.length ? ', newest ' + r.pairs.length + ' shown' : '');
    for (const p of r.pairs) {
      const tr = el('tr');
      tr.dataset.pair = p.pair_id;
      tr.appendChild(el('td', p.pair_id + (p.live ? '' : ' (ended)')));
      tr.appendChild(el('td', p.initiator + ' → ' + p.responder));
      tr.appendChild(el('td', p.outcome || 'pending', 'outcome-' + (p.outcome || 'pending')));
      tr.appendChild(el('td', p.technique || ''));
      tr.appendChild(el('td', ms(p.time_to_direct_ms)));
      tr.appendChild(el('td', ms(rttOf(p))));
      tr.appendChild(el('td', bytes(p.relayed_bytes || 0)));
      tr.appendChild(el('td', ago(p.created_ms, now)));
      tr.appendChild(el('td', why(p), 'why'));
      body.appendChild(tr);
    }
  }

  function showWorkers(r, now) {
    if (r.forbidden) return forbidden('workers', 'workers-matched', r);
    const body = $('workers').tBodies[0];
    body.replaceChildren();
    $('workers-matched').textContent = r.matched + ' of ' + r.connected_workers_count
      + (r.matched > r.workers.length ? ', first ' + r.workers.length + ' shown' : '');
    for (const w of r.workers) {
      const tr = el('tr');
      tr.dataset.worker = w.worker_id;
      const v6 = (w.host_candidates || []).filter((c) => c.startsWith('['));
      tr.appendChild(el('td', w.worker_id));
      tr.appendChild(el('td', w.key_fingerprint ? String(w.key_fingerprint).slice(0, 16) : 'none (original client)'));
      tr.appendChild(el('td', w.nat_mapping || '?'));
      tr.appendChild(el('td', w.port_preserved === null || w.port_preserved === undefined ? '?' : w.port_preserved ? 'yes' : 'no'));
      tr.appendChild(el('td', w.websocket_observed_ip + ':' + w.websocket_observed_port));
      tr.appendChild(el('td', w.stun_reported_udp_ip ? w.stun_reported_udp_ip + ':' + w.stun_reported_udp_port : 'not reported'));
      tr.appendChild(el('td', w.mapped_endpoint || ''));
      tr.appendChild(el('td', v6.length ? v6.join(' ') : 'no'));
      tr.appendChild(el('td', w.connected_since_ms ? ago(w.connected_since_ms, now) : ''));
      tr.appendChild(el('td', w.instance || ''));
      tr.appendChild(el('td', w.live_pairs));
      body.appendChild(tr);
    }
  }

  // ---- polling

  function needToken(problem) {
    $('main').hidden = true;
    $('token-form').hidden = false;
    $('token-problem').textContent = problem || '';
    $('updated').textContent = 'needs the token';
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const q = (id) => encodeURIComponent($(id).value.trim());
      const [s, p, w] = await Promise.all([get('/debug/stats'), get('/debug/pairs?limit=100&q=' + q('pair-search')),
        get('/debug/workers?limit=200&q=' + q('worker-search'))]);
      $('token-form').hidden = true;
      $('main').hidden = false;
      showStats(s);
      showPairs(p, s.now_ms);
      showWorkers(w, s.now_ms);
      $('updated').textContent = 'updated ' + new Date(s.now_ms).toLocaleTimeString();
      document.body.dataset.loaded = 'true';
    } catch (e) {
      if (e.unauthorized) {
        needToken(sessionStorage.getItem(TOKEN_KEY) ? 'that token was refused' : '');
      } else {
        $('updated').textContent = 'cannot reach the rendezvous (' + e.message + '); retrying';
      }
    } finally {
      busy = false;
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!document.hidden) await refresh();
      schedule();
    }, POLL_MS);
  }

  document.addEventListener('DOMContentLoaded', () => {
    takeTokenFromFragment();
    $('token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $('token').value);
      $('token').value = '';
      refresh();
    });
    let typing = null;
    for (const id of ['pair-search', 'worker-search']) {
      $(id).addEventListener('input', () => {
        clearTimeout(typing);
        typing = setTimeout(refresh, 250);
      });
    }
    refresh().then(schedule);
  });
})();
