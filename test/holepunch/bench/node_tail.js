// Issue 25's pattern with an independent client (node and Debian's ws, no code of ours), BENCH_ONLY=tail:
//   node node_tail.js PORT N   opens N sessions 200 at a time (each upgrades, sends register_public_ip and
//                              update_udp_endpoint and waits for the ack; the next 200 start when all are acked),
//                              then one GET /debug/list_workers, then 100 of the open sessions echo 100 rounds
//                              each, one message in flight per session. Prints one JSON line: the burst's
//                              seconds, the list's ms and bytes, the echo's p50, p99 and max ms.
const WebSocket = require(process.env.NODE_WS || '/usr/share/nodejs/ws');
const http = require('http');
const {monitorEventLoopDelay, PerformanceObserver} = require('perf_hooks');
const [port, n] = [+process.argv[2], +process.argv[3]];

function register(id) {
  return new Promise((res, rej) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/register/${id}`, {perMessageDeflate: false});
    ws.on('open', () => {
      ws.send(JSON.stringify({type: 'register_public_ip', ip: '203.0.113.9'}));
      ws.send(JSON.stringify({type: 'update_udp_endpoint', udp_ip: '198.51.100.9', udp_port: 4000}));
    });
    ws.once('message', m => {
      const j = JSON.parse(m);
      if (j.type === 'udp_endpoint_ack' && j.status === 'success') res(ws); else rej(new Error(String(m)));
    });
    ws.on('error', rej);
  });
}

function list() {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    http.get({host: '127.0.0.1', port, path: '/debug/list_workers'}, r => {
      let bytes = 0;
      r.on('data', d => { bytes += d.length; });
      r.on('end', () => res({ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes, status: r.statusCode}));
    }).on('error', rej);
  });
}

function echoRounds(ws, rounds, out) {
  return new Promise((res, rej) => {
    let i = 0, t0 = 0n;
    const send = () => { t0 = process.hrtime.bigint(); ws.send(JSON.stringify({type: 'echo_request', payload: 'tail ' + i})); };
    ws.on('message', m => {
      if (!String(m).includes('echo_response')) return;
      out.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (++i < rounds) send(); else res();
    });
    ws.on('error', rej);
    send();
  });
}

(async () => {
  const tag = Date.now().toString(36);
  const open = [];
  const b0 = Date.now();
  for (let i = 0; i < n; i += 200) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 200); j++) batch.push(register(`tail-${tag}-${j}`));
    open.push(...await Promise.all(batch));
  }
  const burst = (Date.now() - b0) / 1000;
  const l = await list();
  const lat = [];
  // The client's own stalls in the echo window: its event loop's delay (10 ms resolution: a stall is seen whole)
  // and its collector's pauses. Where these are as long as the echo's tail, the tail is the client's.
  const loop = monitorEventLoopDelay({resolution: 10});
  let gcMs = 0, gcMax = 0;
  const gc = new PerformanceObserver(list => { for (const e of list.getEntries()) { gcMs += e.duration; gcMax = Math.max(gcMax, e.duration); } });
  gc.observe({entryTypes: ['gc']});
  loop.enable();
  const e0 = Date.now();
  await Promise.all(open.slice(0, 100).map(ws => echoRounds(ws, 100, lat)));
  const e1 = Date.now();
  loop.disable();
  gc.disconnect();
  lat.sort((a, b) => a - b);
  const q = p => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  console.log(JSON.stringify({sessions: open.length, burst_s: burst, list_ms: l.ms, list_bytes: l.bytes, list_status: l.status,
    echo_p50_ms: q(0.5), echo_p99_ms: q(0.99), echo_max_ms: lat[lat.length - 1], echoes: lat.length, echo_from: e0, echo_to: e1,
    client_loop_delay_max_ms: loop.max / 1e6, client_gc_ms: gcMs, client_gc_max_ms: gcMax}));
  for (const ws of open) ws.terminate();
  process.exit(0);
})().catch(e => { console.error(String(e)); process.exit(1); });
