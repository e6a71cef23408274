// report.js — draws a `gom report` page from its JSON (<script id="gom-data">; the fields are
// documented in host/core/gom_core/html_report.h) with Chart.js, which the page inlines.
// When done it writes {"charts", "points", "cells", "errors"} into the element gom-status: the
// charts drawn, the points each chart holds (non-null values of its data series, its band
// edges and best-so-far lines left out), the sum of each confusion matrix's counts, and every
// script error. tests/cli/report_test.sh reads it from headless Chromium.
(function () {
  'use strict';
  const status = {charts: 0, points: {}, cells: {}, errors: []};
  const charts = [];
  const statusBox = document.createElement('pre');
  statusBox.id = 'gom-status';
  const writeStatus = () => { statusBox.textContent = JSON.stringify(status); };
  window.onerror = function (message, source, line) {
    status.errors.push(String(message) + ' (line ' + line + ')');
    writeStatus();
  };
  window.addEventListener('unhandledrejection', (e) => {
    status.errors.push('unhandled rejection: ' + String(e.reason));
    writeStatus();
  });

  const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
                   '#7f7f7f', '#bcbd22', '#17becf'];
  const color = (i, alpha) => {
    const c = palette[i % palette.length];
    if (alpha === undefined) return c;
    const n = parseInt(c.slice(1), 16);
    return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + alpha + ')';
  };
  const fmt = (v) => {
    if (v === null || v === undefined) return '-';
    if (typeof v !== 'number') return String(v);
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(5)));
  };

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function section(root, id, title) {
    const s = el('section', {id: id}, el('h2', {}, title));
    root.append(s);
    return s;
  }
  function table(headers, rows, rowClass) {
    const t = el('table', {}, el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h)))));
    const body = el('tbody');
    rows.forEach((r, i) => {
      const tr = el('tr', rowClass ? {class: rowClass(i) || ''} : {});
      for (const c of r) tr.append(c instanceof Node ? el('td', {}, c) : el('td', {}, fmt(c)));
      body.append(tr);
    });
    t.append(body);
    return t;
  }

  // A chart in a box of its own; counts its points into status.
  function chart(parent, id, config, controls, height) {
    const canvas = el('canvas', {id: id});
    const box = el('div', height ? {class: 'chart', style: 'height: ' + height + 'px'} : {class: 'chart'}, canvas);
    parent.append(el('div', {class: 'chart-wrap'}, ...(controls || []), box));
    config.options = Object.assign({animation: false, maintainAspectRatio: false}, config.options);
    const c = new Chart(canvas, config);
    charts.push(c);
    let n = 0;
    for (const ds of config.data.datasets) {
      if (ds.gomAux) continue;
      for (const p of ds.data) {
        const y = p !== null && typeof p === 'object' ? p.y : p;
        if (y !== null && y !== undefined) ++n;
      }
    }
    status.charts += 1;
    status.points[id] = n;
    return c;
  }
  // A log-axis checkbox for a chart's y axis.
  function logToggle(getChart) {
    const box = el('input', {type: 'checkbox', class: 'log-axis'});
    box.addEventListener('change', () => {
      const c = getChart();
      c.options.scales.y.type = box.checked ? 'logarithmic' : 'linear';
      c.update();
    });
    return el('label', {class: 'control'}, box, ' log axis');
  }
  // Legend entries for the main series only; a click hides a series with its band.
  const legend = {
    labels: {filter: (item, d) => !d.datasets[item.datasetIndex].gomAux},
    onClick: (e, item, l) => {
      const c = l.chart;
      const hide = c.isDatasetVisible(item.datasetIndex);
      c.data.datasets.forEach((ds, i) => {
        if (i === item.datasetIndex || ds.gomOf === item.datasetIndex) c.setDatasetVisibility(i, !hide);
      });
      c.update();
    },
  };

  // ------------------------------------------------------------------------------ curves
  function metricChart(parent, m) {
    const datasets = [];
    m.series.forEach((s, i) => {
      const main = datasets.length;
      datasets.push({label: s.label, data: s.points.map((p) => ({x: p[0], y: p[1]})),
                     borderColor: color(i), backgroundColor: color(i), pointRadius: 2,
                     borderWidth: 2, spanGaps: false});
      if (!s.band) return;
      const edge = {gomAux: true, gomOf: main, borderWidth: 0, pointRadius: 0, label: s.label + ' band'};
      datasets.push(Object.assign({}, edge, {data: s.points.map((p) => ({x: p[0], y: p[2]})), fill: false}));
      datasets.push(Object.assign({}, edge, {data: s.points.map((p) => ({x: p[0], y: p[3]})),
                                             fill: '-1', backgroundColor: color(i, 0.18)}));
    });
    const dir = m.direction ? ' (' + (m.direction === 'maximize' ? 'higher' : 'lower') + ' is better)' : '';
    const title = m.key + dir + (m.series.some((s) => s.band) ? ': mean over seeds, 95% bootstrap band' : '');
    let c = null;
    c = chart(parent, 'metric-' + m.key, {
      type: 'line', data: {datasets: datasets},
      options: {
        parsing: true, interaction: {mode: 'nearest', intersect: false},
        plugins: {title: {display: true, text: title}, legend: legend},
        scales: {x: {type: 'linear', title: {display: true, text: m.x}, ticks: {precision: 0}},
                 y: {type: 'linear'}},
      },
    }, [logToggle(() => c)]);
  }

  // ------------------------------------------------------------------------------ tables
  function provenance(root) {
    if (!data.runs || data.runs.length === 0) return;
    const s = section(root, 'provenance', data.kind === 'runs' ? 'Runs' : 'The study\'s run');
    const fields = ['experiment', 'name', 'status', 'started_at', 'ended_at', 'duration_s', 'seed',
                    'backend', 'device', 'threads', 'gom_version', 'git_commit', 'git_dirty',
                    'script_path', 'script_sha256', 'command_line', 'host', 'parent_run_id', 'error'];
    const rows = fields.filter((f) => data.runs.some((r) => r[f] !== null && r[f] !== ''))
      .map((f) => [f, ...data.runs.map((r) => r[f])]);
    s.append(table(['', ...data.runs.map((r) => 'run ' + r.id)], rows));
  }
  function params(root) {
    const differ = new Set(data.params_differ || []);
    const s = section(root, 'params', 'Parameters');
    if (data.kind !== 'runs') {
      s.append(el('p', {}, 'Differ across the trials\' runs: ' + ([...differ].join(', ') || 'none')));
      return;
    }
    const keys = [...new Set(data.runs.flatMap((r) => Object.keys(r.params)))].sort();
    const only = el('input', {type: 'checkbox'});
    only.checked = data.runs.length > 1;
    const t = table(['', ...data.runs.map((r) => 'run ' + r.id)],
                    keys.map((k) => [k, ...data.runs.map((r) => r.params[k])]),
                    (i) => (differ.has(keys[i]) ? 'differ' : 'same'));
    const apply = () => t.classList.toggle('only-differ', only.checked);
    only.addEventListener('change', apply);
    apply();
    s.append(el('label', {class: 'control'}, only, ' only the ' + differ.size + ' that differ'), t);
  }
  function league(root) {
    const L = data.league;
    const s = section(root, 'league', 'League ' + L.league + ': ' + L.metric + ' (' + L.direction + ')');
    s.append(el('p', {}, L.seeds.length + ' seeds; trials: ' + L.trials));
    s.append(table(['rank', 'contender', 'overrides', 'runs', 'mean', '95% CI (bootstrap)', 'IQM', 'median', 'min', 'max'],
      L.contenders.map((c) => [c.runs ? c.rank + (c.rank_shared ? '=' : '') : '-', c.contender,
        Object.entries(L.contender_params[c.contender] || {}).map(([k, v]) => k + '=' + v).join(' '),
        c.runs, c.mean, c.runs ? '[' + fmt(c.ci_low) + ', ' + fmt(c.ci_high) + ']' : '-', c.iqm,
        c.median, c.min, c.max])));
    if (L.pairs.length === 0) return;
    s.append(el('h3', {}, 'Pairwise, paired on seeds (Wilcoxon signed-rank, two-sided; p Holm-adjusted)'));
    s.append(table(['a', 'b', 'pairs', 'wins a-b', 'P(a better)', 'p', 'p (Holm)', 'verdict'],
      L.pairs.map((p) => [p.a, p.b, p.pairs, p.wins_a + '-' + p.wins_b + (p.ties ? ' (' + p.ties + ' tied)' : ''),
        p.p_improvement, p.p_value, p.p_holm, p.verdict]),
      (i) => 'verdict-' + L.pairs[i].verdict.split(' ')[0]));
  }
  function confusion(root) {
    if (!data.confusion || data.confusion.length === 0) return;
    const s = section(root, 'confusion', 'Confusion matrices (rows: true class, columns: predicted)');
    data.confusion.forEach((m, i) => {
      const id = 'confusion-' + i;
      const most = Math.max(1, ...m.matrix.flat());
      let sum = 0;
      const t = el('table', {class: 'heat', id: id},
                   el('tr', {}, el('th', {}, ''), ...m.matrix.map((_, p) => el('th', {}, p))));
      m.matrix.forEach((row, tc) => {
        const tr = el('tr', {}, el('th', {}, tc));
        row.forEach((n) => {
          sum += n;
          const a = n / most;
          tr.append(el('td', {style: 'background: rgba(31,119,180,' + a.toFixed(3) + '); color: ' +
                                     (a > 0.55 ? '#fff' : '#000'), title: n}, n));
        });
        t.append(tr);
      });
      status.cells[id] = sum;
      s.append(el('h3', {}, 'run ' + m.run_id + ': ' + m.key + ' (' + m.phase + ', epoch ' + m.epoch + ')'), t);
    });
  }

  // ------------------------------------------------------------------------------ sweeps
  function sweep(root) {
    const S = data.sweep;
    const better = (a, b) => (S.direction === 'maximize' ? a > b : a < b);
    const s = section(root, 'sweep', 'Sweep ' + S.sweep + ': ' + S.metric + ' (' + S.direction + ')');
    s.append(el('p', {}, 'sampler ' + S.sampler + ', pruner ' + S.pruner + ', budget ' + S.budget +
      ' trials' + (S.best ? '; best: trial ' + S.best.number + ' = ' + fmt(S.best.value) + ' (' +
      Object.entries(S.best.params).map(([k, v]) => k + '=' + fmt(v)).join(' ') + ')' : '')));
    const done = S.trials.filter((t) => t.state === 'finished' && t.value !== null);
    let best = null;
    const bestLine = done.map((t) => {
      if (best === null || better(t.value, best)) best = t.value;
      return {x: t.number, y: best};
    });
    chart(s, 'sweep-history', {type: 'scatter', data: {datasets: [
      {label: 'finished trials', data: done.map((t) => ({x: t.number, y: t.value})), backgroundColor: color(0)},
      {label: 'best so far', gomAux: true, type: 'line', data: bestLine, stepped: true,
       borderColor: color(3), pointRadius: 0, borderWidth: 2}]},
      options: {plugins: {title: {display: true, text: 'History: ' + S.metric + ' by trial'}},
                scales: {x: {title: {display: true, text: 'trial'}, ticks: {precision: 0}}}}});
    const curves = S.trials.filter((t) => Object.keys(t.intermediate).length > 0).map((t, i) => ({
      label: 'trial ' + t.number + (t.state === 'pruned' ? ' (pruned)' : ''),
      data: Object.entries(t.intermediate).map(([e, v]) => ({x: Number(e), y: v})).sort((a, b) => a.x - b.x),
      borderColor: color(i), backgroundColor: color(i), borderWidth: 1.5, pointRadius: 2,
      borderDash: t.state === 'pruned' ? [6, 4] : []}));
    let ic = null;
    ic = chart(s, 'sweep-intermediate', {type: 'line', data: {datasets: curves}, options: {
      plugins: {title: {display: true, text: 'Intermediate values (pruned trials dashed)'}},
      scales: {x: {type: 'linear', title: {display: true, text: 'epoch'}, ticks: {precision: 0}},
                y: {type: 'linear'}}}},
      [logToggle(() => ic)]);
    parallel(s, S);
    chart(s, 'sweep-importance', {type: 'bar', data: {labels: S.importance.map((p) => p.param),
      datasets: [{label: 'η²', data: S.importance.map((p) => p.eta2), backgroundColor: color(2)}]},
      options: {indexAxis: 'y', scales: {x: {min: 0, max: 1}}, plugins: {legend: {display: false},
        title: {display: true, text: 'Parameter importance: η², the share of the objective\'s ' +
          'variance between groups of one parameter (choices, or 4 rank bins), finished trials; not fANOVA'},
        tooltip: {callbacks: {afterLabel: (c) => S.importance[c.dataIndex].groups + ' groups, ' +
          S.importance[c.dataIndex].trials + ' trials'}}}}}, [], 90 + 36 * S.importance.length);
    const keys = Object.keys(S.space);
    s.append(table(['trial', 'state', S.metric, 'epochs', ...keys, 'run'], S.trials.map((t) => [
      t.number, t.state, t.value, Object.keys(t.intermediate).length, ...keys.map((k) => t.params[k]), t.run_id]),
      (i) => (S.best && S.trials[i].number === S.best.number ? 'best' : '')));
  }
  // Parallel coordinates on a line chart: one category per axis, every trial a line over its
  // positions in [0, 1], colored by the objective (blue: worst, red: best).
  function parallel(parent, S) {
    const P = S.parallel;
    const objective = P.axes.length - 1;
    const shade = (y) => {
      const t = S.direction === 'maximize' ? y : 1 - y;
      return 'rgba(' + Math.round(40 + 200 * t) + ',70,' + Math.round(220 - 180 * t) + ',0.75)';
    };
    const labels = P.axes.map((a) => [a.name, a.kind === 'choice' ? a.choices.join(' | ') :
                                       '[' + fmt(a.min) + ', ' + fmt(a.max) + ']' + (a.kind === 'log' ? ' log' : '')]);
    chart(parent, 'sweep-parallel', {type: 'line', data: {labels: labels, datasets: P.rows.map((r) => ({
      label: 'trial ' + r.number, data: r.y, borderColor: shade(r.y[objective] === null ? 0.5 : r.y[objective]),
      borderDash: r.state === 'pruned' ? [6, 4] : [], borderWidth: 1.5, pointRadius: 2, gomRow: r}))},
      options: {plugins: {legend: {display: false}, title: {display: true, text:
        'Parallel coordinates (pruned trials dashed, at their last value)'}, tooltip: {callbacks: {
          label: (c) => c.dataset.label + ': ' + P.axes[c.dataIndex].name + ' = ' + fmt(c.dataset.gomRow.values[c.dataIndex])}}},
      scales: {y: {min: 0, max: 1, ticks: {display: false}}}}});
  }

  // With #gom-selftest in the page's address, the controls are worked once each, as a user
  // would: status.selftest counts the charts whose y axis turned logarithmic, and the series
  // (with their bands) that a click on the first legend entry hid.
  function selftest() {
    const result = {log: 0, hidden: 0};
    for (const c of charts) {
      const box = c.canvas.parentNode.parentNode.querySelector('input.log-axis');
      if (!box) continue;
      box.click();
      if (c.scales.y.type === 'logarithmic') result.log += 1;
      box.click();
      legend.onClick(null, {datasetIndex: 0}, c.legend);
      result.hidden += c.data.datasets.filter((ds, i) => !c.isDatasetVisible(i)).length;
      legend.onClick(null, {datasetIndex: 0}, c.legend);
    }
    status.selftest = result;
  }

  // ------------------------------------------------------------------------------ the page
  const data = JSON.parse(document.getElementById('gom-data').textContent);
  const root = document.getElementById('gom-report');
  root.append(el('h1', {}, data.title), el('p', {class: 'note'}, 'gom ' + (data.gom_version || '') +
    (data.generated_at ? ', written ' + data.generated_at : '') + '. Click a legend entry to hide or show its series.'));
  const parts = [provenance, params];
  if (data.league) parts.push(league);
  parts.push((r) => {
    if (data.metrics.length === 0) return;
    const s = section(r, 'curves', data.kind === 'league' ? 'Learning curves by contender' : 'Learning curves');
    const grid = el('div', {class: 'charts'});
    s.append(grid);
    data.metrics.forEach((m) => metricChart(grid, m));
  });
  if (data.sweep) parts.push(sweep);
  parts.push(confusion);
  for (const part of parts) {
    try {
      part(root);
    } catch (e) {
      status.errors.push(String(e && e.stack ? e.stack : e));
    }
  }
  if (location.hash === '#gom-selftest') {
    try {
      selftest();
    } catch (e) {
      status.errors.push('selftest: ' + String(e && e.stack ? e.stack : e));
    }
  }
  document.body.append(statusBox);
  writeStatus();
})();
