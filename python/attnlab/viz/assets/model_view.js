// attnlab model_view: every head as a thumbnail (layers down, heads across); a click enlarges
// one with its query and key tokens on the axes and a colour bar, and the pointer over it
// reads the weight with both tokens and their positions. The enlarged head zooms (drag a
// region, turn the wheel) down to single tokens, drawn from the finest data in the page: the
// weights themselves, or past the pooled cells of a long input each query's kept keys; "find a
// token" marks a token's positions and Enter zooms to the next.
window.attnlabViews.model_view = function (root, d) {
  "use strict";
  var A = window.attnlabViews;
  var LEVELS = 65535, WINDOW = 24;  // tokens around a found one: few enough to label each
  var levels = A.uint16(d.cells), per = d.rq * d.rk, heads = d.heads;
  var pooledRows = d.rq < d.lq, pooledCols = d.rk < d.lk, pooled = pooledRows || pooledCols;
  var state = { scale: d.scale, selected: null, view: null, mark: null };
  var selfAttention = d.lq === d.lk && d.tokens.every(function (t, i) {
    return t === d.keyTokens[i];
  });
  var thumb = Math.max(40, Math.min(96, Math.floor(720 / heads)));
  var big = 360, bigW = d.rk >= d.rq ? big : Math.round((big * d.rk) / d.rq);
  var bigH = d.rq >= d.rk ? big : Math.round((big * d.rq) / d.rk);

  var bar = A.el("div", "attnlab-bar", root);
  A.scaleSelect(bar, state.scale, function (scale) { state.scale = scale; update(); });
  var find = A.el("input", "attnlab-find", bar);
  find.type = "search";
  find.placeholder = "find a token";
  find.title = "type part of a token; Enter zooms the enlarged head to the next match";
  var found = A.el("span", "attnlab-found", bar);
  A.exportButtons(bar, root, "attnlab-model-view", scene);
  A.notes(root, [d.title, d.batchNote, d.pooledNote, "click a head to enlarge it"]);

  var main = A.el("div", "attnlab-model", root);
  var grid = A.el("div", "attnlab-grid", main);
  grid.style.gridTemplateColumns = "auto repeat(" + heads + ", " + thumb + "px)";
  A.el("div", "", grid);
  for (var h = 0; h < heads; h++) A.el("div", "attnlab-caption", grid, "head " + h);
  var thumbs = [];
  d.layers.forEach(function (name, layer) {
    A.el("div", "attnlab-caption attnlab-row", grid, name);
    for (var h = 0; h < heads; h++) {
      var canvas = A.canvas(grid, thumb, thumb, "attnlab-thumb");
      canvas.title = name + ", head " + h;
      canvas.addEventListener("click", select.bind(null, layer, h));
      thumbs.push(canvas);
    }
  });

  var rowLabels = A.cellLabels(d.tokens, d.rq), colLabels = A.cellLabels(d.keyTokens, d.rk);
  var panel = A.el("div", "attnlab-enlarged", main);
  panel.hidden = true;
  var panelBar = A.el("div", "attnlab-bar", panel);
  var reset = A.button(panelBar, "reset zoom", "show the whole head again", function () {
    setView(null);
  });
  // Laid out for the longest tokens, so that zooming never resizes the canvas.
  var layout = A.heatmapLayout({
    w: bigW, h: bigH, rowLabels: d.tokens, colLabels: d.keyTokens, title: true, bar: true
  });
  var stage = A.el("div", "attnlab-stage", panel);
  var enlarged = A.canvas(stage, layout.width, layout.height, "attnlab-big");
  var box = A.el("div", "attnlab-zoombox", stage);
  box.hidden = true;
  var readout = A.el("div", "attnlab-readout", panel, "\u00a0");
  var zoomNote = A.el("div", "attnlab-label attnlab-zoom-note", panel);  // below: no shift

  function tileOf(layer, head) {
    var offset = (layer * heads + head) * per;
    return A.tile(A.strengths(levels, offset, d.rq, d.rk, state.scale), 0, d.rq, d.rk, A.ink);
  }
  function barTop() { return state.scale === "absolute" ? d.top : 1; }
  function headTitle(layer, head) {
    return d.layers[layer] + ", head " + head + " (query \u2193, key \u2192)";
  }
  function whole() { return { r0: 0, r1: d.lq, c0: 0, c1: d.lk }; }

  // ---- the enlarged head at the current zoom -------------------------------------------
  var kept = null;  // each query's kept keys and their levels, decoded on the first zoom
  function keptKeys() {
    if (!kept) {
      var raw = A.bytes(d.keys);
      kept = {
        keys: d.keyBytes === 2 ? new Uint16Array(raw.buffer) : new Uint32Array(raw.buffer),
        levels: A.uint16(d.weights)
      };
    }
    return kept;
  }

  // Cell of each token of [from, to) split into ``cells`` as A.cellStart splits it.
  function cellOf(cells, from, to) {
    var out = new Int32Array(to - from);
    for (var c = 0; c < cells; c++) {
      for (var t = A.cellStart(c, cells, from, to); t < A.cellStart(c + 1, cells, from, to); t++) {
        out[t - from] = c;
      }
    }
    return out;
  }

  // Calls visit(query, key, level, norm) for each weight of view v that the page holds: every
  // weight of an input that is not pooled, else each query's kept keys; norm is the level drawn
  // at full strength on the current scale.
  function entries(layer, head, v, visit) {
    var exact = !pooled, k = exact ? d.rk : d.k, s = exact ? { levels: levels } : keptKeys();
    var base = (layer * heads + head) * d.lq * k, r, t, norm = LEVELS;
    if (state.scale === "head") {  // a head's strongest weight is always kept
      norm = 0;
      for (t = 0; t < d.lq * k; t++) norm = Math.max(norm, s.levels[base + t]);
    }
    for (r = v.r0; r < v.r1; r++) {
      var at = base + r * k;
      if (state.scale === "row") {
        norm = 0;
        for (t = 0; t < k; t++) norm = Math.max(norm, s.levels[at + t]);
      }
      for (t = 0; t < k; t++) {
        var j = exact ? t : s.keys[at + t];
        if (j >= v.c0 && j < v.c1) visit(r, j, s.levels[at + t], norm);
      }
    }
  }

  // What the enlarged head shows: a tile of rows x cols cells over tokens v, their labels, and
  // the largest level in each cell (-1 where the page holds no weight of it).
  function picture(layer, head) {
    var v = state.view;
    if (!v) {
      return { v: whole(), rows: d.rq, cols: d.rk, tile: tileOf(layer, head),
        rowLabels: rowLabels, colLabels: colLabels, best: null };
    }
    var rows = Math.min(v.r1 - v.r0, bigH), cols = Math.min(v.c1 - v.c0, bigW);
    var rowCell = cellOf(rows, v.r0, v.r1), colCell = cellOf(cols, v.c0, v.c1);
    var strength = new Float32Array(rows * cols), best = new Int32Array(rows * cols).fill(-1);
    entries(layer, head, v, function (r, c, level, norm) {
      var cell = rowCell[r - v.r0] * cols + colCell[c - v.c0];
      best[cell] = Math.max(best[cell], level);
      strength[cell] = Math.max(strength[cell], norm > 0 ? level / norm : 0);
    });
    return { v: v, rows: rows, cols: cols, tile: A.tile(strength, 0, rows, cols, A.ink),
      rowLabels: A.cellLabels(d.tokens, rows, v.r0, v.r1),
      colLabels: A.cellLabels(d.keyTokens, cols, v.c0, v.c1), best: best };
  }

  var shown = null;  // the enlarged head's picture as last painted, for the pointer
  function paintEnlarged(p, x, y) {
    var s = state.selected, L = { x: x + layout.x, y: y + layout.y, w: layout.w, h: layout.h };
    var pic = shown = picture(s.layer, s.head), v = pic.v;
    var zoomed = state.view ? " \u2014 queries " + v.r0 + "\u2013" + (v.r1 - 1) + ", keys " +
      v.c0 + "\u2013" + (v.c1 - 1) : "";
    A.paintHeatmap(p, L, {
      tile: pic.tile, rowLabels: pic.rowLabels, colLabels: pic.colLabels,
      title: headTitle(s.layer, s.head) + zoomed,
      bar: { top: barTop(), label: A.SCALES[state.scale] }
    });
    // found tokens: marks beside the query axis and under the key axis
    var ph = L.h / pic.rows, pw = L.w / pic.cols;
    matches.q.forEach(function (i) {
      if (i < v.r0 || i >= v.r1) return;
      var at = Math.floor(((i - v.r0) * pic.rows) / (v.r1 - v.r0));
      p.rect(L.x - 3, L.y + at * ph, 3, Math.max(2, ph), "#e08a00");
    });
    matches.k.forEach(function (j) {
      if (j < v.c0 || j >= v.c1) return;
      var at = Math.floor(((j - v.c0) * pic.cols) / (v.c1 - v.c0));
      p.rect(L.x + at * pw, L.y + L.h, Math.max(2, pw), 3, "#e08a00");
    });
    var mark = state.mark;
    if (mark && mark.side === "q" && mark.i >= v.r0 && mark.i < v.r1) {
      var row = Math.floor(((mark.i - v.r0) * pic.rows) / (v.r1 - v.r0));
      p.rect(L.x, L.y + row * ph, L.w, Math.max(2, ph), null, "#e08a00");
    } else if (mark && mark.i >= v.c0 && mark.i < v.c1) {
      var col = Math.floor(((mark.i - v.c0) * pic.cols) / (v.c1 - v.c0));
      p.rect(L.x + col * pw, L.y, Math.max(2, pw), L.h, null, "#e08a00");
    }
    root.dataset.rowTicks = A.ticks(pic.rowLabels, L.h).map(function (t) {
      return t.text;
    }).join("\n");
  }

  function select(layer, head) {
    thumbs.forEach(function (t) { t.classList.remove("attnlab-selected"); });
    thumbs[layer * heads + head].classList.add("attnlab-selected");
    state.selected = { layer: layer, head: head };
    panel.hidden = false;
    root.dataset.selected = layer + "," + head;
    update();
  }

  // ---- zoom: drag a region, turn the wheel, reset ---------------------------------------
  function setView(v) {
    var all = whole();
    if (v) {
      v = {
        r0: Math.max(0, v.r0), r1: Math.min(all.r1, v.r1),
        c0: Math.max(0, v.c0), c1: Math.min(all.c1, v.c1)
      };
      if (v.r0 === 0 && v.c0 === 0 && v.r1 === all.r1 && v.c1 === all.c1) v = null;
    }
    state.view = v;
    update();
  }
  function pointer(event) {  // the pointer in the heatmap's pixels
    var rect = enlarged.getBoundingClientRect();
    return { x: event.clientX - rect.left - layout.x, y: event.clientY - rect.top - layout.y };
  }
  function tokenAt(px, length, from, to) {  // the token under a pixel along one axis
    var f = Math.max(0, Math.min(1, px / length));
    return Math.min(to - 1, from + Math.floor(f * (to - from)));
  }
  var drag = null;
  enlarged.addEventListener("mousedown", function (event) {
    var at = pointer(event);
    if (!state.selected || at.x < 0 || at.y < 0 || at.x >= layout.w || at.y >= layout.h) return;
    event.preventDefault();
    drag = { x: at.x, y: at.y };
  });
  window.addEventListener("mousemove", function (event) {
    if (!drag) return;
    var at = pointer(event);
    var x = Math.max(0, Math.min(layout.w, at.x)), y = Math.max(0, Math.min(layout.h, at.y));
    box.hidden = false;
    box.style.left = enlarged.offsetLeft + layout.x + Math.min(x, drag.x) + "px";
    box.style.top = enlarged.offsetTop + layout.y + Math.min(y, drag.y) + "px";
    box.style.width = Math.abs(x - drag.x) + "px";
    box.style.height = Math.abs(y - drag.y) + "px";
  });
  window.addEventListener("mouseup", function (event) {
    if (!drag) return;
    var start = drag, at = pointer(event), v = state.view || whole();
    drag = null;
    box.hidden = true;
    if (Math.abs(at.x - start.x) < 4 || Math.abs(at.y - start.y) < 4) return;  // a click
    setView({
      r0: tokenAt(Math.min(at.y, start.y), layout.h, v.r0, v.r1),
      r1: tokenAt(Math.max(at.y, start.y), layout.h, v.r0, v.r1) + 1,
      c0: tokenAt(Math.min(at.x, start.x), layout.w, v.c0, v.c1),
      c1: tokenAt(Math.max(at.x, start.x), layout.w, v.c0, v.c1) + 1
    });
  });
  // The wheel halves (or doubles) the span on both axes, keeping the token under the pointer.
  enlarged.addEventListener("wheel", function (event) {
    var at = pointer(event);
    if (!state.selected || at.x < 0 || at.y < 0 || at.x >= layout.w || at.y >= layout.h) return;
    event.preventDefault();
    var v = state.view || whole(), factor = event.deltaY < 0 ? 0.5 : 2;
    function axis(px, length, from, to, count) {
      var span = Math.max(1, Math.min(count, Math.round((to - from) * factor)));
      var focus = from + (px / length) * (to - from);
      var start = Math.round(focus - (px / length) * span);
      start = Math.max(0, Math.min(count - span, start));
      return [start, start + span];
    }
    var r = axis(at.y, layout.h, v.r0, v.r1, d.lq), c = axis(at.x, layout.w, v.c0, v.c1, d.lk);
    setView({ r0: r[0], r1: r[1], c0: c[0], c1: c[1] });
  }, { passive: false });

  // ---- finding tokens ------------------------------------------------------------------
  var matches = { q: [], k: [] }, next = 0;
  function search() {
    var text = find.value.toLowerCase();
    function where(tokens) {
      var out = [];
      if (!text) return out;
      for (var i = 0; i < tokens.length; i++) {
        if (tokens[i].toLowerCase().indexOf(text) >= 0) out.push(i);
      }
      return out;
    }
    matches = { q: where(d.tokens), k: where(d.keyTokens) };
    next = 0;
    state.mark = null;
    var count = matches.q.length + (selfAttention ? 0 : matches.k.length);
    found.textContent = text ? count + " found" : "";
    root.dataset.found = String(count);
    update();
  }
  find.addEventListener("input", search);
  find.addEventListener("keydown", function (event) {
    var all = matches.q.map(function (i) { return { side: "q", i: i }; });
    if (!selfAttention) {
      all = all.concat(matches.k.map(function (j) { return { side: "k", i: j }; }));
    }
    if (event.key !== "Enter" || !all.length) return;
    var m = all[next++ % all.length];
    if (!state.selected) select(0, 0);
    state.mark = m;
    var count = m.side === "q" ? d.lq : d.lk, other = m.side === "q" ? d.lk : d.lq;
    var span = Math.min(WINDOW, count), start = Math.max(0, Math.min(count - span,
      m.i - (span >> 1)));
    var otherSpan = Math.min(WINDOW, other), centre = Math.round((m.i * other) / count);
    var otherStart = Math.max(0, Math.min(other - otherSpan, centre - (otherSpan >> 1)));
    var own = [start, start + span], across = [otherStart, otherStart + otherSpan];
    var rows = m.side === "q" ? own : across, cols = m.side === "q" ? across : own;
    setView({ r0: rows[0], r1: rows[1], c0: cols[0], c1: cols[1] });
    readout.textContent = (m.side === "q" ? "query " : "key ") +
      A.token(m.side === "q" ? d.tokens : d.keyTokens, m.i) + " (match " +
      (((next - 1) % all.length) + 1) + " of " + all.length + "; Enter: the next)";
    root.dataset.mark = m.side + m.i;
  });

  // ---- pointer over the enlarged head ---------------------------------------------------
  enlarged.addEventListener("mousemove", function (event) {
    if (!state.selected || drag || !shown) return;
    var cell = A.cellAt(enlarged, layout, shown.rows, shown.cols, event);
    if (!cell) { readout.textContent = "\u00a0"; root.dataset.cell = ""; return; }
    var v = shown.v, text;
    var rows = A.cellTokens(d.tokens, cell.row, shown.rows, v.r0, v.r1);
    var cols = A.cellTokens(d.keyTokens, cell.col, shown.cols, v.c0, v.c1);
    var single = v.r1 - v.r0 === shown.rows && v.c1 - v.c0 === shown.cols;
    if (!shown.best) {
      var s = state.selected, at = (s.layer * heads + s.head) * per + cell.row * d.rk + cell.col;
      text = (pooled ? "largest weight " : "weight ") + A.weight(levels[at], d.top).toFixed(4);
    } else {
      var level = shown.best[cell.row * shown.cols + cell.col];
      var what = (single ? "" : "largest ") + (pooled ? "kept weight " : "weight ");
      text = level < 0 ? "not kept (weaker than its query's " + d.k + " strongest keys)"
        : what + A.weight(level, d.top).toFixed(4);
    }
    readout.textContent = "query " + rows + " \u2192 key " + cols + ": " + text;
    root.dataset.cell = cell.row + "," + cell.col;
  });

  // The thumbnails (and the enlarged head) for the PNG and SVG downloads.
  function scene() {
    var nameWidth = 0;
    d.layers.forEach(function (name) { nameWidth = Math.max(nameWidth, A.textWidth(name, 11)); });
    nameWidth = Math.min(160, nameWidth + 8);
    var gridW = nameWidth + heads * (thumb + 3), gridH = 34 + d.layers.length * (thumb + 3);
    var extra = state.selected ? 20 + layout.width : 0;
    return {
      width: gridW + extra, height: Math.max(gridH, state.selected ? 34 + layout.height : 0) + 6,
      paint: function (p) {
        p.text(4, 9, [d.title, d.batchNote].filter(Boolean).join(" \u2014 "),
          { size: 11, bold: true, width: gridW + extra - 8 });
        for (var h = 0; h < heads; h++) {
          p.text(nameWidth + h * (thumb + 3) + thumb / 2, 26, "head " + h,
            { size: 10, anchor: "middle", colour: "#555" });
        }
        d.layers.forEach(function (name, layer) {
          var y = 34 + layer * (thumb + 3);
          p.text(nameWidth - 4, y + thumb / 2, name,
            { size: 10, anchor: "end", width: nameWidth - 6, colour: "#555" });
          for (var h = 0; h < heads; h++) {
            var x = nameWidth + h * (thumb + 3);
            p.image(tileOf(layer, h), x, y, thumb, thumb);
            var s = state.selected, chosen = s && s.layer === layer && s.head === h;
            p.rect(x, y, thumb, thumb, null, chosen ? "#d33" : "#ccc");
          }
        });
        if (state.selected) paintEnlarged(p, gridW + 20, 34);
      }
    };
  }

  function zoomText() {
    var v = state.view;
    if (!v) return "drag over the head or turn the wheel to zoom in";
    var text = "queries " + v.r0 + "\u2013" + (v.r1 - 1) + " of " + d.lq + ", keys " + v.c0 +
      "\u2013" + (v.c1 - 1) + " of " + d.lk;
    if (pooled) {
      text += ": each query's " + d.k + " strongest keys at full resolution (the weaker ones " +
        "are not in this page: white)";
    }
    return text;
  }

  function update() {
    thumbs.forEach(function (canvas, n) {
      var p = A.canvasPainter(canvas);
      p.clear("#fff");
      p.image(tileOf(Math.floor(n / heads), n % heads), 0, 0, thumb, thumb);
    });
    if (state.selected) {
      var p = A.canvasPainter(enlarged);
      p.clear("#fff");
      paintEnlarged(p, 0, 0);
    }
    var v = state.view;
    reset.disabled = !v;
    zoomNote.textContent = zoomText();
    root.dataset.view = v ? v.r0 + "-" + v.r1 + "," + v.c0 + "-" + v.c1 : "";
    root.dataset.scale = state.scale;
  }
  root.dataset.selected = "";
  update();
};
