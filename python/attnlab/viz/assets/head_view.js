// attnlab head_view: query tokens (left) joined to key tokens (right) by lines as strong as the
// attention weight, one colour per head, blended by multiplying (as inks do), so that where
// heads overlap both stay visible and no head paints over another. Hover (or click, to pin) a
// token to see only its lines, hover a line to read its weight, find a token by its text.
window.attnlabViews.head_view = function (root, d) {
  "use strict";
  var A = window.attnlabViews;
  var raw = A.bytes(d.keys);
  var keys = d.keyBytes === 2 ? new Uint16Array(raw.buffer) : new Uint32Array(raw.buffer);
  var levels = A.uint16(d.weights);
  var k = d.k, heads = d.heads, lq = d.lq, lk = d.lk;
  var state = { layer: d.layer, shown: d.shown.slice(), focus: null, scale: d.scale, line: null };
  var COLUMN = 120, WIDTH = 220, HEADER = 44;

  var bar = A.el("div", "attnlab-bar", root);
  A.layerSelect(bar, d.layers, state.layer, function (layer) { state.layer = layer; update(); });
  A.el("span", "attnlab-label", bar, "heads");
  var buttons = [];
  for (var h = 0; h < heads; h++) {
    var button = A.button(bar, String(h), "head " + h + " (click to show or hide)",
      toggle.bind(null, h));
    button.classList.add("attnlab-head");
    button.style.setProperty("--attnlab-head", A.headColour(h, heads));
    buttons.push(button);
  }
  A.scaleSelect(bar, state.scale, function (scale) { state.scale = scale; update(); });
  var find = A.el("input", "attnlab-find", bar);
  find.type = "search";
  find.placeholder = "find a token";
  find.title = "type part of a token; Enter goes to the next match";
  var found = A.el("span", "attnlab-found", bar);
  A.exportButtons(bar, root, "attnlab-head-view", scene);

  var topkNote = k >= lk ? "" : "each query keeps its " + k + " strongest keys of " + lk +
    " (top_k=" + k + "); the weaker ones are not in this page";
  A.notes(root, [d.title, d.batchNote, topkNote]);
  var readout = A.el("div", "attnlab-readout", root, "\u00a0");

  // Rows 20 px apart up to 150 tokens, then squeezed into 3000 px; labels thinned to fit.
  var rows = Math.max(lq, lk);
  var height = rows * Math.min(20, 3000 / rows), stepQ = height / lq, stepK = height / lk;
  var header = A.el("div", "attnlab-body attnlab-header", root);
  A.el("div", "attnlab-column-title attnlab-queries-title", header, "query (" + lq + ")");
  var legend = A.canvas(header, WIDTH, HEADER, "attnlab-legend");
  A.el("div", "attnlab-column-title", header, "key (" + lk + ")");
  var body = A.el("div", "attnlab-body", root);
  var left = column(d.tokens, stepQ, "attnlab-queries");
  var canvas = A.canvas(body, WIDTH, height, "attnlab-lines");
  var right = column(d.keyTokens, stepK, "attnlab-keys");
  var painter = A.canvasPainter(canvas);
  // Each head's lines end a little above or below the token's centre, in head order, so that
  // the lines of several heads between the same two tokens stay apart, each in its colour.
  function spread(head, step) {
    if (heads < 2) return 0;
    var width = Math.min(0.8 * step, 3 * heads);
    return width < 2 ? 0 : (head / (heads - 1) - 0.5) * width;
  }
  var drawn = { head: [], q: [], k: [] };

  function column(tokens, step, className) {
    var col = A.el("div", "attnlab-tokens " + className, body);
    col.style.height = height + "px";
    var stride = Math.ceil(14 / step), labels = {};
    for (var i = 0; i < tokens.length; i += stride) {
      var label = A.el("div", "attnlab-token", col, tokens[i]);
      label.style.top = ((i + 0.5) * step - 7) + "px";
      label.title = A.token(tokens, i);
      labels[i] = label;
    }
    col.labels = labels;
    col.stride = stride;
    col.cursor = A.el("div", "attnlab-token attnlab-cursor", col);
    col.cursor.hidden = true;
    col.marks = A.el("div", "attnlab-marks", col);
    return col;
  }

  function rowAt(col, step, count, event) {
    var top = col.getBoundingClientRect().top;
    return Math.min(count - 1, Math.max(0, Math.floor((event.clientY - top) / step)));
  }

  function listen(col, side, step, count) {
    col.addEventListener("mousemove", function (event) {
      if (state.focus && state.focus.pinned) return;
      var i = rowAt(col, step, count, event);
      if (!state.focus || state.focus.side !== side || state.focus.i !== i) {
        state.focus = { side: side, i: i, pinned: false };
        update();
      }
    });
    col.addEventListener("click", function (event) {
      var i = rowAt(col, step, count, event);
      var f = state.focus, same = f && f.pinned && f.side === side && f.i === i;
      state.focus = { side: side, i: i, pinned: !same };
      update();
    });
    col.addEventListener("mouseleave", function () {
      if (state.focus && !state.focus.pinned) { state.focus = null; update(); }
    });
  }
  listen(left, "q", stepQ, lq);
  listen(right, "k", stepK, lk);

  function toggle(head) {
    var at = state.shown.indexOf(head);
    if (at >= 0) state.shown.splice(at, 1); else state.shown.push(head);
    update();
  }

  // ---- finding tokens ------------------------------------------------------------------
  var matches = [], next = 0;
  var selfAttention = lq === lk && d.tokens.every(function (t, i) { return t === d.keyTokens[i]; });
  function search() {
    var text = find.value.toLowerCase();
    matches = [];
    next = 0;
    [left, right].forEach(function (col) { col.marks.textContent = ""; });
    if (text) {
      [[d.tokens, left, stepQ, "q"], [d.keyTokens, right, stepK, "k"]].forEach(function (s) {
        for (var i = 0; i < s[0].length; i++) {
          if (s[0][i].toLowerCase().indexOf(text) < 0) continue;
          if (s[3] === "q" || !selfAttention) matches.push({ side: s[3], i: i });
          if (s[1].marks.childElementCount < 2000) {
            var mark = A.el("div", "attnlab-mark", s[1].marks);
            mark.style.top = (i * s[2]) + "px";
            mark.style.height = Math.max(2, s[2]) + "px";
          }
        }
      });
    }
    found.textContent = text ? matches.length + " found" : "";
    root.dataset.found = String(matches.length);
  }
  find.addEventListener("input", search);
  find.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !matches.length) return;
    var m = matches[next++ % matches.length];
    state.focus = { side: m.side, i: m.i, pinned: true };
    update();
    var col = m.side === "q" ? left : right;
    (col.labels[m.i] || col.cursor).scrollIntoView({ block: "nearest" });
  });

  // ---- drawing -------------------------------------------------------------------------
  // Without a focus, each head draws at most its share of LINES, the strongest: the weakest
  // lines are all but invisible, and the raster cost of long lines is what limits the speed.
  var LINES = 4096;
  function strongest(s, budget) {
    var counts = new Uint32Array(256), least = 256, total = 0, lines = 0;
    for (var e = 0; e < s.length; e++) {
      var level = Math.round(s[e] * 255);
      counts[level]++;
      if (level > 0) lines++;
    }
    while (least > 1 && total + counts[least - 1] <= budget) total += counts[--least];
    if (least === 256) {  // even the strongest lines exceed the budget: keep them, skip queries
      least = 255;
      total = counts[255];
    }
    return { least: least, queryStride: Math.max(1, Math.ceil(total / budget)), lines: lines };
  }

  // Paints the lines of the current state at (x, y); keeps what it drew for the pointer.
  function paintLines(p, x, y, keep) {
    var focus = state.focus, kept = 0, all = 0;
    var first = focus && focus.side === "q" ? focus.i : 0;
    var last = focus && focus.side === "q" ? focus.i + 1 : lq;
    if (keep) drawn = { head: [], q: [], k: [] };
    state.shown.forEach(function (head) {
      var base = (state.layer * heads + head) * lq * k;
      var s = A.strengths(levels, base, lq, k, state.scale);  // the row's strongest is kept
      var limit = focus ? { least: 1, queryStride: 1, lines: 0 }
        : strongest(s, Math.max(256, LINES / state.shown.length));
      all += limit.lines;
      var segments = [], alphas = [];
      for (var i = first; i < last; i += limit.queryStride) {
        for (var t = 0; t < k; t++) {
          var e = i * k + t, level = Math.round(s[e] * 255);
          if (level < limit.least) continue;
          var j = keys[base + e];
          if (focus && focus.side === "k" && j !== focus.i) continue;
          kept++;
          segments.push(x, y + (i + 0.5) * stepQ + spread(head, stepQ),
            x + WIDTH, y + (j + 0.5) * stepK + spread(head, stepK));
          alphas.push(s[e]);
          if (keep) { drawn.head.push(head); drawn.q.push(i); drawn.k.push(j); }
        }
      }
      p.ink(segments, alphas, A.headRgb(head, heads), focus ? 2 : 1.25);
    });
    return { kept: kept, all: all };
  }

  function paintLegend(p, x, y) {
    p.text(x + WIDTH / 2, y + 8, "line opacity = " + A.SCALES[state.scale],
      { size: 10, anchor: "middle", colour: "#444", width: WIDTH });
    [0.05, 0.25, 0.5, 1].forEach(function (v, n) {
      var lx = x + 12 + n * 52;
      p.ink([lx, y + 32, lx + 26, y + 22], [v], [0.13, 0.13, 0.13], 2);
      p.text(lx + 30, y + 27, String(v), { size: 9, colour: "#555" });
    });
  }

  function paintColumn(p, col, tokens, step, x, y, anchor) {
    var focus = state.focus, side = col === left ? "q" : "k";
    var at = anchor === "end" ? x + COLUMN - 4 : x + 4;
    if (focus && focus.side === side) {
      p.rect(x, y + focus.i * step + step / 2 - 7, COLUMN, 14, "#ffe08a");
    }
    Object.keys(col.labels).forEach(function (i) {
      p.text(at, y + (Number(i) + 0.5) * step, tokens[i],
        { size: 12, anchor: anchor, width: COLUMN - 8 });
    });
    if (focus && focus.side === side && !col.labels[focus.i]) {
      p.text(at, y + (focus.i + 0.5) * step, tokens[focus.i],
        { size: 12, anchor: anchor, width: COLUMN - 8, bold: true });
    }
  }

  // The whole picture for the PNG and SVG downloads: title, notes, headers, tokens, lines.
  function scene() {
    var shown = "layer " + d.layers[state.layer] + ", heads " + state.shown.join(", ");
    var notes = [d.title, d.batchNote, topkNote, shown].filter(Boolean);
    var top = 16 * notes.length + 8 + HEADER;
    return {
      width: 2 * COLUMN + WIDTH, height: top + height + 8,
      paint: function (p) {
        notes.forEach(function (line, n) {
          p.text(4, 10 + 16 * n, line, { size: 11, bold: n === 0, width: 2 * COLUMN + WIDTH - 8 });
        });
        var y = top - HEADER;
        p.text(COLUMN - 4, y + HEADER - 10, "query (" + lq + ")",
          { size: 11, anchor: "end", bold: true });
        p.text(COLUMN + WIDTH + 4, y + HEADER - 10, "key (" + lk + ")", { size: 11, bold: true });
        paintLegend(p, COLUMN, y);
        paintColumn(p, left, d.tokens, stepQ, 0, top, "end");
        paintLines(p, COLUMN, top, false);
        paintColumn(p, right, d.keyTokens, stepK, COLUMN + WIDTH, top, "start");
      }
    };
  }

  // ---- pointer over the lines ----------------------------------------------------------
  canvas.addEventListener("mousemove", function (event) {
    var box = canvas.getBoundingClientRect();
    var x = event.clientX - box.left, y = event.clientY - box.top;
    var best = -1, bestDistance = 4;
    for (var n = 0; n < drawn.q.length; n++) {
      var y0 = (drawn.q[n] + 0.5) * stepQ + spread(drawn.head[n], stepQ);
      var y1 = (drawn.k[n] + 0.5) * stepK + spread(drawn.head[n], stepK), slope = (y1 - y0) / WIDTH;
      var distance = Math.abs(y - (y0 + slope * x)) / Math.sqrt(1 + slope * slope);
      if (distance < bestDistance) { best = n; bestDistance = distance; }
    }
    state.line = best < 0 ? null : { head: drawn.head[best], q: drawn.q[best], k: drawn.k[best] };
    root.dataset.line = state.line ? state.line.head + "," + state.line.q + "," + state.line.k : "";
    readout.textContent = describe();
  });
  canvas.addEventListener("mouseleave", function () {
    state.line = null;
    root.dataset.line = "";
    readout.textContent = describe();
  });

  function weightOf(head, i, j) {
    var base = (state.layer * heads + head) * lq * k + i * k;
    for (var t = 0; t < k; t++) if (keys[base + t] === j) return A.weight(levels[base + t], d.top);
    return null;
  }

  // The strongest kept key of query i (or query of key j) in one head.
  function strongestOf(head, side, i) {
    var base = (state.layer * heads + head) * lq * k, best = -1, at = -1;
    var first = side === "q" ? i : 0, last = side === "q" ? i + 1 : lq;
    for (var q = first; q < last; q++) {
      for (var t = 0; t < k; t++) {
        var e = base + q * k + t;
        if (side === "k" && keys[e] !== i) continue;
        if (levels[e] > best) { best = levels[e]; at = side === "q" ? keys[e] : q; }
      }
    }
    return at < 0 ? null : { at: at, weight: A.weight(best, d.top) };
  }

  function describe() {
    var line = state.line, focus = state.focus;
    if (line) {
      var w = weightOf(line.head, line.q, line.k);
      return "head " + line.head + ": query " + A.token(d.tokens, line.q) + " \u2192 key " +
        A.token(d.keyTokens, line.k) + ": weight " + (w === null ? "?" : w.toFixed(4));
    }
    if (!focus) return note;
    var query = focus.side === "q";
    var tokens = query ? d.tokens : d.keyTokens, other = query ? d.keyTokens : d.tokens;
    var parts = state.shown.slice(0, 6).map(function (head) {
      var s = strongestOf(head, focus.side, focus.i);
      return "head " + head + ": " +
        (s ? A.token(other, s.at) + " " + s.weight.toFixed(3) : "none kept");
    });
    return (query ? "query " : "key ") + A.token(tokens, focus.i) +
      (focus.pinned ? " (pinned; click it again to release)" : "") + " \u2014 strongest " +
      (query ? "key" : "query") + " \u2014 " + parts.join("; ") +
      "; hover a line to read its weight";
  }

  var note = "";
  function update() {
    buttons.forEach(function (button, h) {
      button.setAttribute("aria-pressed", String(state.shown.indexOf(h) >= 0));
    });
    [left, right].forEach(function (col) {
      Object.keys(col.labels).forEach(function (i) {
        col.labels[i].classList.remove("attnlab-focus");
      });
      col.cursor.hidden = true;
      col.cursor.classList.remove("attnlab-focus");
    });
    var focus = state.focus;
    if (focus) {
      var col = focus.side === "q" ? left : right, step = focus.side === "q" ? stepQ : stepK;
      var tokens = focus.side === "q" ? d.tokens : d.keyTokens;
      var label = col.labels[focus.i];
      if (!label) {  // a token between the thinned labels: the cursor shows it
        label = col.cursor;
        label.hidden = false;
        label.textContent = tokens[focus.i];
        label.style.top = ((focus.i + 0.5) * step - 7) + "px";
      }
      label.classList.add("attnlab-focus");
    }
    root.dataset.layer = String(state.layer);
    root.dataset.heads = state.shown.slice().sort(function (a, b) { return a - b; }).join(",");
    root.dataset.focus = focus ? focus.side + focus.i : "";
    root.dataset.scale = state.scale;
    painter.clear("#fff");
    var counts = paintLines(painter, 0, 0, true);
    root.dataset.lines = String(counts.kept);
    note = counts.kept < counts.all ? "the " + counts.kept + " strongest of " + counts.all +
      " lines drawn; hover or click a token to see all of its lines"
      : "hover a token to see its lines, a line to read its weight";
    var legendPainter = A.canvasPainter(legend);
    legendPainter.clear("#fff");
    paintLegend(legendPainter, 0, 0);
    readout.textContent = describe();
  }
  update();
};
