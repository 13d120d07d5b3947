// Uses a native addon (better-sqlite3), which cannot be bundled: package.json marks it external, so
// it is shipped installed beside the bundle. `items` emits `items.count` items over a few keys;
// `store` keeps them in an in-memory SQLite table and appends `<item> <rows so far with its key>`
// to the file `store.out`, so the output shows SQLite did the counting.
import { appendFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { TopologyBuilder } from '@ardea/core/api';

class Items {
  open(context, collector) {
    this.collector = collector;
    this.next = 0;
    this.count = Number(context.config.count ?? 6);
  }
  nextTuple() {
    if (this.next < this.count) {
      const index = this.next++;
      this.collector.emit([`key${index % 3}`, index]);
    }
  }
}

class Store {
  prepare(context) {
    this.file = String(context.config.out);
    this.db = new Database(':memory:');
    this.db.exec('CREATE TABLE items (key TEXT, value INTEGER)');
    this.insert = this.db.prepare('INSERT INTO items VALUES (?, ?)');
    this.rows = this.db.prepare('SELECT COUNT(*) AS n FROM items WHERE key = ?');
  }
  execute(tuple) {
    const key = tuple.getString('key');
    this.insert.run(key, tuple.getNumber('value'));
    appendFileSync(this.file, `${key}:${tuple.getNumber('value')} ${this.rows.get(key).n}\n`);
  }
}

const builder = new TopologyBuilder('packaging-native');
builder.setSpout('items', () => new Items()).outputFields('key', 'value');
builder.setBolt('store', () => new Store()).globalGrouping('items');
export default builder.build();
