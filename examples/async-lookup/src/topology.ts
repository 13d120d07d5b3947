/**
 * Async lookup: an I/O-bound bolt that awaits an HTTP service for every tuple, with many requests in
 * flight per instance. `orders` emits orders, `price` looks up each order's product in a price service
 * over HTTP and emits the order's total, `ledger` (one instance) writes the priced orders down.
 *
 * The price service is local so that the example needs nothing outside: each `price` instance starts
 * its own on 127.0.0.1, port 0, in `prepare` (inside the instance, so it runs in every container of
 * every pool), and stops it in `cleanup`. It answers `GET /price?product=p<k>` with `{"cents": …}`
 * after a delay of 5 to 15 ms, as a remote service would.
 *
 * `price` declares `maxInFlight(32)`: up to 32 executes await the service at once per instance, and
 * (ordered, the default) what they emit leaves in the order the orders came.
 *
 * Settable at submit with `--config-property`: `orders.count=<N>` emits orders 0..N-1 and stops (0,
 * the default: no end), `orders.rate=<per second>` (default 200; 0: as fast as backpressure allows),
 * `price.maxInFlight=<n>`, `<component>.parallelism=<n>`, and `ledger.outputFile=<file>`, to which
 * the ledger appends one line per priced order: `<id> <product> <quantity> <total cents>`.
 */
import { appendFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Bolt, BoltOutputCollector, ComponentContext, Spout, SpoutOutputCollector, TopologyBuilder, Tuple } from '@ardea/core/api';

/** The products orders are for: p0 .. p12. */
export const PRODUCTS = 13;

/** Order `id`: which product, how many. */
export function order(id: number): { product: string; quantity: number } {
  return { product: `p${(id * 7) % PRODUCTS}`, quantity: 1 + (id % 4) };
}

/** What the price service charges for product `p<k>`, in cents. */
export function listPrice(product: string): number {
  const k = Number(product.slice(1));
  return 100 + 37 * k;
}

class Orders implements Spout {
  private collector!: SpoutOutputCollector;
  private next = 0;
  private count = 0;
  private rate = 200;
  private tokens = 0;
  private refilledAt = 0;

  open(context: ComponentContext, collector: SpoutOutputCollector): void {
    this.collector = collector;
    this.count = Number(context.config.count ?? 0);
    this.rate = Number(context.config.rate ?? 200);
    this.refilledAt = performance.now();
  }

  nextTuple(): void {
    if (this.count > 0 && this.next >= this.count) return;
    if (this.rate > 0) {
      const now = performance.now();
      // At most 20 ms of orders at once: time spent paused is not made up in a burst.
      this.tokens = Math.min(Math.max(1, this.rate / 50), this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
      this.refilledAt = now;
      if (this.tokens < 1) return;
      this.tokens--;
    }
    const id = this.next++;
    const { product, quantity } = order(id);
    this.collector.emit([id, product, quantity]);
  }
}

/** The price service: answers after 5 to 15 ms, as a service across a network would. */
function startPriceService(): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    const product = new URL(request.url ?? '/', 'http://localhost').searchParams.get('product') ?? '';
    if (!/^p\d+$/.test(product)) {
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no product ${product}` }));
      return;
    }
    const delayMs = 5 + ((Number(product.slice(1)) * 3) % 11);
    setTimeout(() => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ cents: listPrice(product) }));
    }, delayMs);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

class Price implements Bolt {
  private collector!: BoltOutputCollector;
  private server: http.Server | undefined;
  private port = 0;
  // Connections are kept open between requests, as a client of a real service would.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  async prepare(_context: ComponentContext, collector: BoltOutputCollector): Promise<void> {
    this.collector = collector;
    this.server = await startPriceService();
    this.port = (this.server.address() as AddressInfo).port;
  }

  async execute(tuple: Tuple): Promise<void> {
    const product = tuple.getString('product');
    const quantity = tuple.getNumber('quantity');
    const { cents } = await this.lookup(product);
    this.collector.emit([tuple.getNumber('id'), product, quantity, cents * quantity]);
  }

  private lookup(product: string): Promise<{ cents: number }> {
    return new Promise((resolve, reject) => {
      const request = http.get(
        { host: '127.0.0.1', port: this.port, path: `/price?product=${encodeURIComponent(product)}`, agent: this.agent },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => {
            if (response.statusCode !== 200) reject(new Error(`price service answered ${response.statusCode} for ${product}: ${body}`));
            else resolve(JSON.parse(body) as { cents: number });
          });
          response.on('error', reject);
        },
      );
      request.on('error', reject);
    });
  }

  cleanup(): Promise<void> {
    this.agent.destroy();
    const server = this.server;
    if (!server) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

class Ledger implements Bolt {
  private outputFile: string | undefined;

  prepare(context: ComponentContext): void {
    this.outputFile = context.config.outputFile === undefined ? undefined : String(context.config.outputFile);
  }

  execute(tuple: Tuple): void {
    if (this.outputFile === undefined) return;
    appendFileSync(this.outputFile, `${tuple.values.join(' ')}\n`);
  }
}

const builder = new TopologyBuilder('async-lookup').containers(2);
builder.setSpout('orders', () => new Orders()).outputFields('id', 'product', 'quantity');
builder
  .setBolt('price', () => new Price(), 2)
  .maxInFlight(32)
  .shuffleGrouping('orders')
  .outputFields('id', 'product', 'quantity', 'total');
builder.setBolt('ledger', () => new Ledger()).globalGrouping('price');
export default builder.build();
