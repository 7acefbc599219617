// Farms: each farm's state, servers, disks and last failure.
import { h, clear, table } from '../dom.js';
import { get } from '../api.js';
import { onEvent } from '../live.js';

export async function farmsView(main) {
  const body = h('div');
  clear(main, h('h1', {}, 'Farms'),
    h('p', {}, h('a', { href: '#/designer', class: 'button' }, 'Design a new farm')), body);
  async function load() {
    const { farms } = await get('/v1/farms');
    clear(body, table(['Farm', 'State', 'Servers', 'Global disks', 'Last failure'],
      farms.map((f) => [h('a', { href: '#/farms/' + encodeURIComponent(f.name) }, f.name),
        h('span', { class: 'state ' + f.state }, f.state), String(f.servers), String(f.global_disks),
        f.last_error || ''])));
  }
  await load();
  let timer = null;
  const off = onEvent(() => {
    clearTimeout(timer);
    timer = setTimeout(() => load().catch(() => {}), 300);
  });
  return () => { off(); clearTimeout(timer); };
}
