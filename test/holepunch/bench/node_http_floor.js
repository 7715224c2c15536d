// The tail bench's floor (HttpFloor.java): node node_http_floor.js PORT N opens N connections 200 at a time, each
// with one plain GET (Connection: close) read to its end; the next 200 start when all of these have ended.
// Prints one JSON line: the seconds it took and the requests answered 200.
const http = require('http');
const [port, n] = [+process.argv[2], +process.argv[3]];

function get() {
  return new Promise((res, rej) => {
    http.get({host: '127.0.0.1', port, path: '/floor', agent: false, headers: {Connection: 'close'}}, r => {
      r.on('data', () => {});
      r.on('end', () => res(r.statusCode === 200 ? 1 : 0));
    }).on('error', rej);
  });
}

(async () => {
  const t0 = Date.now();
  let ok = 0;
  for (let i = 0; i < n; i += 200) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 200); j++) batch.push(get());
    for (const r of await Promise.all(batch)) ok += r;
  }
  console.log(JSON.stringify({seconds: (Date.now() - t0) / 1000, ok}));
})().catch(e => { console.error(String(e)); process.exit(1); });
