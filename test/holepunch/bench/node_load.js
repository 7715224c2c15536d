// An independent load client for make bench (BENCH_ONLY=node): node with Debian's ws, no code of ours.
//   node node_load.js echo PORT OUT   holds 100 sessions echoing; prints "ready" once all are registered;
//                                     writes (epoch ms, latency ms) pairs to OUT when its stdin closes
//   node node_load.js burst PORT N    registers N sessions, 256 at a time; prints "burst T0 T1" (epoch ms);
//                                     keeps them until its stdin closes
const WebSocket = require(process.env.NODE_WS || '/usr/share/nodejs/ws');
const fs = require('fs');
const [mode, port, arg] = [process.argv[2], +process.argv[3], process.argv[4]];
const url = id => `ws://127.0.0.1:${port}/ws/register/${id}`;

function register(id) {
  return new Promise((res, rej) => {
    const ws = new WebSocket(url(id), {perMessageDeflate: false});
    ws.on('open', () => {
      ws.send(JSON.stringify({type: 'register_public_ip', ip: '203.0.113.9'}));
      ws.send(JSON.stringify({type: 'update_udp_endpoint', udp_ip: '198.51.100.9', udp_port: 4000}));
    });
    ws.once('message', m => {
      const j = JSON.parse(m);
      if (j.type === 'udp_endpoint_ack') res(ws); else rej(new Error(String(m)));
    });
    ws.on('error', rej);
  });
}

const stdinClosed = () => new Promise(r => { process.stdin.on('end', r); process.stdin.on('close', r); process.stdin.resume(); });

(async () => {
  const tag = Date.now().toString(36);
  if (mode === 'echo') {
    const held = [];
    for (let i = 0; i < 100; i++) held.push(await register(`nheld-${tag}-${i}`));
    const out = [];
    let stop = false;
    for (const ws of held) {
      let t0;
      const fire = () => { if (stop) return; t0 = process.hrtime.bigint(); ws.send('{"type":"echo_request","payload":"x"}'); };
      ws.on('message', () => { out.push(Date.now(), Number(process.hrtime.bigint() - t0) / 1e6); fire(); });
      fire();
    }
    console.log('ready');
    await stdinClosed();
    stop = true;
    fs.writeFileSync(arg, JSON.stringify(out));
    for (const ws of held) ws.terminate();
  } else {
    const n = +arg, window = 256, all = [];
    let next = 0, open = 0, done = 0;
    const t0 = Date.now();
    await new Promise((res, rej) => {
      const pump = () => {
        while (open < window && next < n) {
          open++;
          register(`nburst-${tag}-${next++}`).then(ws => { all.push(ws); open--; if (++done === n) res(); else pump(); }, rej);
        }
      };
      pump();
    });
    console.log(`burst ${t0} ${Date.now()}`);
    await stdinClosed();
    for (const ws of all) ws.terminate();
  }
  process.exit(0);
})().catch(e => { console.error(String(e)); process.exit(1); });
