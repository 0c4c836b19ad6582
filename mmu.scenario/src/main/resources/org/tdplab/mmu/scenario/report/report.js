/* tdplab --html: hands the run's data (the JSON above) to Apache ECharts, which draws, zooms and hit-tests. */
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('tdplab-data').textContent);
  var LEVEL = { '-1': ['mixed', '#a0a0a0'], 0: ['unmapped', '#e8e8e8'], 1: ['4K', '#4e79a7'], 2: ['2M', '#f28e2b'],
    3: ['1G', '#59a14f'], 4: ['512G', '#76b7b2'], 5: ['256T', '#edc948'], 10: ['shared', '#cfe8cf'],
    11: ['private', '#9c6ade'] };
  var NEUTRAL = '#8c9bab', FAILED = '#d62728';
  /** The narrowest a run is drawn, outlined when narrower in truth: one 4K page of a 64 GiB slot stays visible. */
  var MIN_PX = 3;
  var tdplab = window.tdplab = { charts: {} };

  function hex(v) { return '0x' + Math.round(v).toString(16); }
  function bytes(v) {
    var units = ['', 'K', 'M', 'G', 'T'], u = 0;
    while (u < 4 && v >= 1024 && v % 1024 === 0) { v /= 1024; u++; }
    return v + units[u];
  }
  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el) return null;
    var c = echarts.init(el, null, { renderer: 'svg' });
    c.setOption(option);
    tdplab.charts[id] = c;
    return c;
  }

  /** A power-of-two tick interval (at least 4K) giving about six ticks over {@code span} bytes. */
  function ticks(span) {
    var i = 4096;
    while (span / i > 8) i *= 2;
    return i;
  }

  /**
   * One memslot: a lane per row, a rectangle per run (at least MIN_PX wide, the short ones drawn last so that a
   * single 4K page stays visible in a large slot), GPA on x with power-of-two ticks that follow the zoom.
   */
  function gpaChart(vm, slot, index) {
    var id = vm.id + '-slot-' + index, end = slot.gpa + slot.size;
    var el = document.getElementById(id);
    var title = 'slot ' + slot.id + ': ' + hex(slot.gpa) + ' – ' + hex(end) + ' (' + bytes(slot.size) + ')';
    el.style.height = (90 + vm.lanes.length * 32) + 'px';
    slot.runs.sort(function (a, b) { return (b[2] - b[1]) - (a[2] - a[1]); });
    var c = chart(id, {
      animation: false,
      title: { text: title, left: 6, top: 4, textStyle: { fontSize: 12, fontWeight: 'normal' } },
      grid: { left: 110, right: 48, top: 30, bottom: 56 },
      tooltip: { formatter: function (p) {
        var r = p.value;
        return vm.lanes[r[0]] + ': ' + LEVEL[r[3]][0] + '<br/>' + hex(r[1]) + ' – ' + hex(r[2]) + ' (' +
          bytes(r[2] - r[1]) + ')';
      } },
      xAxis: { type: 'value', min: slot.gpa, max: end, scale: true, interval: ticks(slot.size),
        axisLabel: { formatter: hex, hideOverlap: true } },
      yAxis: { type: 'category', data: vm.lanes, inverse: true },
      dataZoom: [{ type: 'slider', xAxisIndex: 0, filterMode: 'weakFilter', height: 16, bottom: 8,
        labelFormatter: hex }, { type: 'inside', xAxisIndex: 0, filterMode: 'weakFilter' }],
      series: [{ type: 'custom', encode: { x: [1, 2], y: 0 }, data: slot.runs, renderItem: function (params, api) {
        var lane = api.value(0), a = api.coord([api.value(1), lane]), b = api.coord([api.value(2), lane]);
        var h = api.size([0, 1])[1] * 0.7, cs = params.coordSys, narrow = b[0] - a[0] < MIN_PX;
        var shape = echarts.graphic.clipRectByRect({ x: a[0], y: a[1] - h / 2, width: Math.max(MIN_PX, b[0] - a[0]),
          height: h }, { x: cs.x, y: cs.y, width: cs.width, height: cs.height });
        return shape && { type: 'rect', shape: shape, style: { fill: LEVEL[api.value(3)][1],
          stroke: narrow ? '#555' : null, lineWidth: narrow ? 0.6 : 0 } };
      } }]
    });
    c.on('click', function (p) { select(vm, p.value[0], p.value[1], p.value[2]); });
    c.on('datazoom', function () {
      var z = c.getOption().dataZoom[0], from = slot.gpa + slot.size * z.start / 100,
        to = slot.gpa + slot.size * z.end / 100;
      c.setOption({ title: { text: title + (z.start > 0 || z.end < 100 ? ', showing ' + hex(from) + ' – ' + hex(to) :
        '') }, xAxis: { interval: ticks(to - from) } });
    });
  }

  /** The history of [from, to) in one lane: its root's SPTE changes and every firmware call there. */
  function select(vm, lane, from, to) {
    var root = lane === 0 ? null : vm.lanes[lane].replace(' root', ''), rows = [];
    vm.history.events.forEach(function (e) {
      if (root !== null && e[2] !== '' && e[2] !== root) return;
      if (e[3] < 0) return;
      var a = e[3] * 4096, b = a + 4096 * Math.pow(512, e[4] - 1);
      if (a < to && b > from) rows.push(e);
    });
    var box = document.getElementById(vm.id + '-history'), shown = rows.slice(0, 200);
    var html = '<h4>' + esc(vm.lanes[lane]) + ' ' + hex(from) + ' – ' + hex(to) + ' (' + bytes(to - from) + '): ' +
      rows.length + ' event' + (rows.length === 1 ? '' : 's') + (rows.length > 200 ? ', the first 200 shown' : '') +
      '</h4><table class="events"><tr><th>ms</th><th>line</th><th>root</th><th>gfn</th><th>level</th>' +
      '<th>what</th></tr>';
    shown.forEach(function (e) {
      html += '<tr' + (e[6] ? ' class="bad"' : '') + '><td>' + e[0].toFixed(3) + '</td><td>' + e[1] + '</td><td>' +
        esc(e[2] || 'firmware') + '</td><td>' + hex(e[3]) + '</td><td>' + e[4] + '</td><td>' + esc(e[5]) +
        '</td></tr>';
    });
    box.innerHTML = html + '</table>' + (rows.length ? '' : '<p>nothing recorded here</p>');
  }
  tdplab.select = function (vmIndex, lane, from, to) { select(data.vms[vmIndex], lane, from, to); };

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function bars(id, title, labels, series) {
    var el = document.getElementById(id);
    if (!el) return;
    el.style.height = (60 + labels.length * 22) + 'px';
    chart(id, {
      animation: false,
      title: { text: title, left: 6, top: 4, textStyle: { fontSize: 12, fontWeight: 'normal' } },
      grid: { left: 190, right: 60, top: 30, bottom: 10 },
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      xAxis: { type: 'value', show: false },
      yAxis: { type: 'category', data: labels, inverse: true },
      series: series
    });
  }

  data.vms.forEach(function (vm) {
    vm.slots.forEach(function (slot, i) { gpaChart(vm, slot, i); });
    bars(vm.id + '-levels', 'Table occupancy: present entries per level; leaves by size (counters)',
      vm.levels.labels, [{ type: 'bar', data: vm.levels.values, itemStyle: { color: '#4e79a7' },
        label: { show: true, position: 'right' } }]);
    var fw = vm.firmware;
    bars(vm.id + '-firmware', 'Firmware calls by kind (red: a status that is not a success)', fw.labels, [
      { type: 'bar', name: 'completed', stack: 'calls', data: fw.ok, itemStyle: { color: NEUTRAL },
        tooltip: { valueFormatter: function (v) { return v; } } },
      { type: 'bar', name: 'failed', stack: 'calls', data: fw.failed, itemStyle: { color: FAILED },
        label: { show: true, position: 'right', formatter: function (p) {
          return fw.ok[p.dataIndex] + fw.failed[p.dataIndex]; } } }]);
    var f = tdplab.charts[vm.id + '-firmware'];
    if (f) f.setOption({ tooltip: { formatter: function (ps) {
      var i = ps[0].dataIndex;
      return esc(fw.labels[i]) + ': ' + (fw.ok[i] + fw.failed[i]) + '<br/>' + esc(fw.statuses[i]);
    } } });
  });

  data.timelines.forEach(function (t) {
    var x = t.faults.map(function (_, i) { return (i * t.binMs).toFixed(2); });
    chart(t.id, {
      animation: false,
      grid: { left: 60, right: 24, top: 20, bottom: 56 },
      tooltip: { trigger: 'axis' },
      legend: { data: ['faults', 'zaps'], right: 24, top: 0 },
      xAxis: { type: 'category', data: x, name: 'ms', axisLabel: { hideOverlap: true } },
      yAxis: { type: 'value', axisLabel: { formatter: function (v) { return Math.abs(v); } } },
      dataZoom: [{ type: 'slider', height: 16, bottom: 8 }, { type: 'inside' }],
      series: [{ name: 'faults', type: 'bar', stack: 't', data: t.faults, itemStyle: { color: '#4e79a7' } },
        { name: 'zaps', type: 'bar', stack: 't', data: t.zaps.map(function (v) { return -v; }),
          itemStyle: { color: '#f28e2b' } }]
    });
  });
})();
