// A farm job's progress (apply, destroy), followed by long-polling
// GET /v1/farms/jobs/N?after=K until it ends. Returns the final job.
import { h, clear } from '../dom.js';
import { get } from '../api.js';

export async function followJob(job, box) {
  const list = h('ol', { class: 'steps', 'aria-label': 'Steps' });
  const state = h('p', { class: 'jobstate', role: 'status' }, `${job.kind} of ${job.farm}: running`);
  const bar = h('progress', { max: 1, value: 0, 'aria-label': 'Progress' });
  clear(box, h('h3', {}, `Job ${job.job}`), state, bar, list);
  let seen = 0;
  let cur = job;
  for (let i = 0; i < 100000; i++) {
    for (const s of cur.steps || []) {
      list.append(h('li', { class: 'step ' + s.status }, `[${s.index}/${s.total}] ${s.action}: ${s.status}`,
        s.detail ? h('span', { class: 'detail' }, ' — ' + s.detail) : null));
      bar.max = Math.max(1, s.total);
      bar.value = s.status === 'done' || s.status === 'ok' ? s.index : Math.max(0, s.index - 1);
    }
    seen = cur.reports;
    if (cur.state !== 'running') break;
    cur = await get(`/v1/farms/jobs/${cur.job}?after=${seen}`);
  }
  state.textContent = `${cur.kind} of ${cur.farm}: ${cur.state}` + (cur.error ? ' — ' + cur.error : '');
  state.className = 'jobstate ' + cur.state;
  if (cur.state === 'done') bar.value = bar.max;
  return cur;
}

// The plan text as `vsl farm plan` prints it, with its counts.
export function planBox(plan) {
  return h('section', { class: 'plan', 'aria-label': 'Plan' },
    h('h3', {}, plan.summary),
    h('ul', { class: 'counts' },
      h('li', { class: 'add' }, `${plan.to_add} to add`),
      h('li', { class: 'change' }, `${plan.to_change} to change`),
      h('li', { class: 'remove' }, `${plan.to_remove} to remove`)),
    h('pre', { class: 'plantext' }, plan.text));
}
