// attnlab views: what head_view.js, model_view.js, timeline.js and neuron_view.js share. Each
// view's script element inlines this file again, so it only (re)defines functions and holds no
// state. Pictures are drawn through a "painter" (a canvas one on screen and for PNG, an SVG one
// for SVG), so that a download shows exactly what the view draws.
window.attnlabViews = window.attnlabViews || {};
(function (A) {
  "use strict";
  var FONT = 'system-ui, -apple-system, "Segoe UI", sans-serif';
  var LEVELS = 65535;  // weights travel as uint16 levels of the view's top weight

  // Runs a view in its root element: the static picture beside it (for where scripts do not
  // run) goes away, and a failure says so in the page as well as in the console.
  A.start = function (root, kind, data) {
    var fallback = document.getElementById(root.id + "-fallback");
    if (fallback) fallback.remove();
    try {
      A[kind](root, data);
      root.dataset.drawnAt = String(performance.now());  // for scripts/view_load_times.py
    } catch (error) {
      A.el("div", "attnlab-error", root, "attnlab: this view failed: " + error);
      throw error;
    }
  };

  // base64 -> bytes (a loop: Array.from with a callback is far slower on megabytes).
  A.bytes = function (text) {
    var binary = atob(text), out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  };
  A.uint16 = function (text) { return new Uint16Array(A.bytes(text).buffer); };
  A.float32 = function (text) { return new Float32Array(A.bytes(text).buffer); };
  A.weight = function (level, top) { return (level * top) / LEVELS; };

  // A new element; text goes in as textContent, never as markup. Inputs and menus ask
  // JupyterLab and Notebook 7 to leave their keys (arrows, space) to them.
  A.el = function (tag, className, parent, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    if (tag === "input" || tag === "select") {
      node.setAttribute("data-lm-suppress-shortcuts", "true");
    }
    if (parent) parent.appendChild(node);
    return node;
  };

  A.button = function (parent, text, title, onClick) {
    var button = A.el("button", "attnlab-button", parent, text);
    button.type = "button";
    button.title = title;
    button.addEventListener("click", onClick);
    return button;
  };

  A.headColour = function (head, heads) {
    return "hsl(" + Math.round((360 * head) / Math.max(heads, 1)) + ", 70%, 42%)";
  };
  A.headRgb = function (head, heads) {
    return A.hsl(Math.round((360 * head) / Math.max(heads, 1)), 0.7, 0.42);
  };

  // "12 “the”": a token with its position, so that digit tokens read unambiguously.
  A.token = function (tokens, i) { return i + " \u201c" + tokens[i] + "\u201d"; };

  // The first token of cell ``cell`` of ``cells`` splitting tokens [from, to).
  A.cellStart = function (cell, cells, from, to) {
    return from + Math.floor((cell * (to - from)) / cells);
  };

  // The tokens first..last: one token, or "first–last “a” … “b”".
  A.tokenRange = function (tokens, first, last) {
    if (last <= first) return A.token(tokens, first);
    return first + "\u2013" + last + " \u201c" + tokens[first] + "\u201d \u2026 \u201c" +
      tokens[last] + "\u201d";
  };

  // The tokens a cell of a pooled axis covers (of tokens [from, to), default all of them).
  A.cellTokens = function (tokens, cell, cells, from, to) {
    from = from || 0;
    to = to === undefined ? tokens.length : to;
    return A.tokenRange(tokens, A.cellStart(cell, cells, from, to),
      A.cellStart(cell + 1, cells, from, to) - 1);
  };

  // Axis labels, one per cell of tokens [from, to) (default all): the tokens, or for pooled
  // cells the position each starts at.
  A.cellLabels = function (tokens, cells, from, to) {
    from = from || 0;
    to = to === undefined ? tokens.length : to;
    if (cells === to - from) return tokens.slice(from, to);
    var out = [];
    for (var c = 0; c < cells; c++) out.push(String(A.cellStart(c, cells, from, to)));
    return out;
  };

  // A canvas of width x height CSS pixels backed at the device pixel ratio (capped so that very
  // tall canvases stay within the browser's size limits).
  A.canvas = function (parent, width, height, className) {
    var canvas = A.el("canvas", className || "", parent);
    A.resize(canvas, width, height);
    return canvas;
  };
  A.resize = function (canvas, width, height) {
    var ratio = Math.min(window.devicePixelRatio || 1, 16000 / Math.max(width, height, 1));
    canvas.width = Math.max(1, Math.round(width * ratio));
    canvas.height = Math.max(1, Math.round(height * ratio));
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    canvas.getContext("2d").setTransform(ratio, 0, 0, ratio, 0, 0);
    canvas.cssWidth = width;
    canvas.cssHeight = height;
  };

  // ---- colours -------------------------------------------------------------------------
  // White at 0, deep blue at 1: a weight's strength.
  A.ink = function (v) {
    return [Math.round(255 - v * 247), Math.round(255 - v * 207), Math.round(255 - v * 148)];
  };
  // Blue below zero, white at zero, red above: the signed entries of q and k.
  A.diverging = function (v) {
    var a = Math.min(1, Math.abs(v));
    return v < 0 ? [Math.round(255 - a * 222), Math.round(255 - a * 153), Math.round(255 - a * 75)]
      : [Math.round(255 - a * 40), Math.round(255 - a * 200), Math.round(255 - a * 210)];
  };
  A.css = function (rgb) { return "rgb(" + rgb[0] + "," + rgb[1] + "," + rgb[2] + ")"; };

  // A rows x cols canvas, one pixel per cell, coloured by colour(values[offset + i]).
  A.tile = function (values, offset, rows, cols, colour) {
    var tile = document.createElement("canvas");
    tile.width = cols;
    tile.height = rows;
    var image = new ImageData(cols, rows), px = image.data;
    for (var i = 0; i < rows * cols; i++) {
      var rgb = colour(values[offset + i]);
      px[4 * i] = rgb[0];
      px[4 * i + 1] = rgb[1];
      px[4 * i + 2] = rgb[2];
      px[4 * i + 3] = 255;
    }
    tile.getContext("2d").putImageData(image, 0, 0);
    return tile;
  };

  // ---- scales --------------------------------------------------------------------------
  A.SCALES = {
    absolute: "weight", row: "weight / its query's strongest", head: "weight / the head's strongest"
  };

  // Strengths in [0, 1] of rows x cols uint16 levels starting at levels[offset]: the weight
  // over the view's top ("absolute"), over its row's strongest, or over the head's strongest.
  A.strengths = function (levels, offset, rows, cols, scale) {
    var out = new Float32Array(rows * cols), r, c, m;
    if (scale === "head") {
      m = 0;
      for (r = 0; r < rows * cols; r++) m = Math.max(m, levels[offset + r]);
    }
    for (r = 0; r < rows; r++) {
      var base = offset + r * cols;
      if (scale === "row") {
        m = 0;
        for (c = 0; c < cols; c++) m = Math.max(m, levels[base + c]);
      } else if (scale === "absolute") {
        m = LEVELS;
      }
      for (c = 0; c < cols; c++) out[r * cols + c] = m > 0 ? levels[base + c] / m : 0;
    }
    return out;
  };

  A.scaleSelect = function (parent, scale, onChange) {
    var label = A.el("label", "attnlab-control", parent, "colour ");
    var select = A.el("select", "attnlab-scale", label);
    Object.keys(A.SCALES).forEach(function (name) {
      var option = A.el("option", "", select, "= " + A.SCALES[name]);
      option.value = name;
    });
    select.value = scale;
    select.title = "how strong a weight looks: the weight itself, or relative to its row or head";
    select.addEventListener("change", function () { onChange(select.value); });
    return select;
  };

  // A <select> of the layer names; calls onChange(layer index).
  A.layerSelect = function (parent, names, selected, onChange) {
    var label = A.el("label", "attnlab-control", parent, "layer ");
    var select = A.el("select", "attnlab-layer", label);
    names.forEach(function (name, i) {
      var option = A.el("option", "", select, name);
      option.value = String(i);
    });
    select.value = String(selected);
    select.addEventListener("change", function () { onChange(Number(select.value)); });
    return select;
  };

  // ---- painters ------------------------------------------------------------------------
  // Multiplies anti-aliased lines into RGBA pixels (width x height, ``ratio`` pixels per CSS
  // pixel): where line n covers a fraction f of a pixel, each channel keeps 1 - alphas[n] * f *
  // (1 - rgb) of itself. segments: x0, y0, x1, y1 per line in CSS pixels; rgb in [0, 1].
  A.inkLines = function (px, width, height, segments, alphas, rgb, lineWidth, ratio) {
    var lost = [1 - rgb[0], 1 - rgb[1], 1 - rgb[2]];
    for (var n = 0; n < alphas.length; n++) {
      var x0 = segments[4 * n] * ratio, y0 = segments[4 * n + 1] * ratio;
      var x1 = segments[4 * n + 2] * ratio, y1 = segments[4 * n + 3] * ratio;
      var steep = Math.abs(y1 - y0) > Math.abs(x1 - x0);
      var a0 = steep ? y0 : x0, a1 = steep ? y1 : x1, b0 = steep ? x0 : y0, b1 = steep ? x1 : y1;
      if (a1 < a0) { var t = a0; a0 = a1; a1 = t; t = b0; b0 = b1; b1 = t; }
      var slope = a1 > a0 ? (b1 - b0) / (a1 - a0) : 0;
      var half = (lineWidth * ratio * Math.sqrt(1 + slope * slope)) / 2;  // across the minor axis
      var limitA = steep ? height : width, limitB = steep ? width : height;
      for (var a = Math.max(0, Math.floor(a0)); a < Math.min(limitA, Math.ceil(a1)); a++) {
        var along = Math.min(a + 1, a1) - Math.max(a, a0);  // the part of this column covered
        var centre = b0 + slope * (a + 0.5 - a0), low = centre - half, high = centre + half;
        for (var b = Math.max(0, Math.floor(low)); b < Math.min(limitB, Math.ceil(high)); b++) {
          var cover = (Math.min(b + 1, high) - Math.max(b, low)) * along * alphas[n];
          var at = 4 * (steep ? a * width + b : b * width + a);
          px[at] *= 1 - cover * lost[0];
          px[at + 1] *= 1 - cover * lost[1];
          px[at + 2] *= 1 - cover * lost[2];
        }
      }
    }
  };

  // hsl(hue, saturation, lightness) as rgb in [0, 1].
  A.hsl = function (hue, saturation, lightness) {
    var k = function (n) { return (n + hue / 30) % 12; };
    var a = saturation * Math.min(lightness, 1 - lightness);
    return [0, 8, 4].map(function (n) {
      return lightness - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1));
    });
  };

  var measurer = null;
  function measure(text, size, bold) {
    measurer = measurer || document.createElement("canvas").getContext("2d");
    measurer.font = (bold ? "600 " : "") + size + "px " + FONT;
    return measurer.measureText(text).width;
  }
  // ``text`` cut with an ellipsis to fit ``width`` pixels.
  A.fit = function (text, width, size, bold) {
    text = String(text).replace(/[\r\n\t]/g, " ");
    if (!width || measure(text, size, bold) <= width) return text;
    var low = 0, high = text.length;
    while (low < high) {
      var mid = (low + high + 1) >> 1;
      if (measure(text.slice(0, mid) + "\u2026", size, bold) <= width) low = mid;
      else high = mid - 1;
    }
    return text.slice(0, low) + "\u2026";
  };
  A.textWidth = measure;

  // Every painter: text(x, y, text, options), ink(segments, alphas, rgb, width), rect(x, y, w, h,
  // fill, stroke), image(tile, x, y, w, h), and done(). Options: size,
  // anchor ("start" | "middle" | "end"), colour, bold, rotate (degrees), width (to fit).
  A.canvasPainter = function (canvas) {
    var c = canvas.getContext("2d");
    return {
      context: c,
      clear: function (fill) {
        c.clearRect(0, 0, canvas.cssWidth, canvas.cssHeight);
        if (fill) { c.fillStyle = fill; c.fillRect(0, 0, canvas.cssWidth, canvas.cssHeight); }
      },
      text: function (x, y, text, o) {
        o = o || {};
        var size = o.size || 11;
        c.save();
        c.font = (o.bold ? "600 " : "") + size + "px " + FONT;
        c.fillStyle = o.colour || "#222";
        c.textAlign = o.anchor === "end" ? "right" : o.anchor === "middle" ? "center" : "left";
        c.textBaseline = "middle";
        c.translate(x, y);
        if (o.rotate) c.rotate((o.rotate * Math.PI) / 180);
        c.fillText(A.fit(text, o.width, size, o.bold), 0, 0);
        c.restore();
      },
      // Lines as inks: each line multiplies the pixels it covers, so that the picture does
      // not depend on the order of the lines (or heads). Rasterised here, in one pass over
      // the pixels, because the canvas's own anti-aliased strokes cost a full-size coverage
      // mask per path.
      ink: function (segments, alphas, rgb, width) {
        if (!segments.length) return;
        var ratio = canvas.width / canvas.cssWidth;
        var image = c.getImageData(0, 0, canvas.width, canvas.height);
        A.inkLines(image.data, canvas.width, canvas.height, segments, alphas, rgb, width, ratio);
        c.putImageData(image, 0, 0);
      },
      rect: function (x, y, w, h, fill, stroke) {
        if (fill) { c.fillStyle = fill; c.fillRect(x, y, w, h); }
        if (stroke) {
          c.strokeStyle = stroke;
          c.lineWidth = 1;
          c.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
        }
      },
      image: function (tile, x, y, w, h) {
        c.imageSmoothingEnabled = false;
        c.drawImage(tile, x, y, w, h);
      },
      done: function () { return canvas; }
    };
  };

  function escape(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "");
  }
  function number(x) { return String(Math.round(x * 100) / 100); }

  A.svgPainter = function (width, height) {
    var parts = [];
    return {
      clear: function (fill) {
        if (fill) {
          parts.push('<rect width="' + width + '" height="' + height + '" fill="' + fill + '"/>');
        }
      },
      text: function (x, y, text, o) {
        o = o || {};
        var size = o.size || 11;
        var anchor = o.anchor === "end" ? "end" : o.anchor === "middle" ? "middle" : "start";
        var transform = !o.rotate ? "" :
          ' transform="rotate(' + o.rotate + " " + number(x) + " " + number(y) + ')"';
        parts.push('<text x="' + number(x) + '" y="' + number(y) + '" font-size="' + size +
          '" text-anchor="' + anchor + '" dominant-baseline="central" fill="' +
          (o.colour || "#222") +
          '"' + (o.bold ? ' font-weight="600"' : "") + transform + ">" +
          escape(A.fit(text, o.width, size, o.bold)) + "</text>");
      },
      ink: function (segments, alphas, rgb, width) {
        var paths = {}, colour = A.css(rgb.map(function (v) { return Math.round(v * 255); }));
        for (var n = 0; n < alphas.length; n++) {
          var key = String(Math.round(alphas[n] * 1000) / 1000), i = 4 * n;
          (paths[key] = paths[key] || []).push(
            "M" + number(segments[i]) + " " + number(segments[i + 1]) +
            "L" + number(segments[i + 2]) + " " + number(segments[i + 3]));
        }
        Object.keys(paths).forEach(function (alpha) {
          parts.push('<path d="' + paths[alpha].join("") + '" stroke="' + colour +
            '" stroke-opacity="' + alpha + '" stroke-width="' + width +
            '" fill="none" style="mix-blend-mode:multiply"/>');
        });
      },
      rect: function (x, y, w, h, fill, stroke) {
        parts.push('<rect x="' + number(x) + '" y="' + number(y) + '" width="' + number(w) +
          '" height="' + number(h) + '" fill="' + (fill || "none") + '"' +
          (stroke ? ' stroke="' + stroke + '"' : "") + "/>");
      },
      image: function (tile, x, y, w, h) {
        parts.push('<image x="' + number(x) + '" y="' + number(y) + '" width="' + number(w) +
          '" height="' + number(h) +
          '" preserveAspectRatio="none" style="image-rendering:pixelated" href="' +
          tile.toDataURL("image/png") + '"/>');
      },
      done: function () {
        return '<svg xmlns="http://www.w3.org/2000/svg" width="' + width + '" height="' + height +
          '" viewBox="0 0 ' + width + " " + height + '" font-family="' + escape(FONT) +
          '" style="isolation:isolate">' + parts.join("\n") + "</svg>\n";
      }
    };
  };

  // ---- heatmaps with axes and a colour bar ---------------------------------------------
  // The layout of a heatmap of rows x cols cells in a w x h pixel box, with query labels on
  // the left, key labels below (rotated) and a colour bar on the right, each optional.
  A.heatmapLayout = function (o) {
    var left = o.rowLabels ? Math.min(110, 8 + maxWidth(o.rowLabels, 10)) : 0;
    var bottom = o.colLabels ? Math.min(80, 8 + maxWidth(o.colLabels, 10)) : 0;
    var top = o.title ? 18 : 0;
    var bar = o.bar ? 58 : 0;
    return { x: left, y: top, w: o.w, h: o.h, width: left + o.w + bar, height: top + o.h + bottom };
  };
  function maxWidth(labels, size) {
    var m = 0, step = Math.max(1, Math.floor(labels.length / 200));
    for (var i = 0; i < labels.length; i += step) m = Math.max(m, measure(labels[i], size));
    return m;
  }

  // Axis labels of ``count`` items along ``length`` pixels: the labels that fit (every
  // stride-th), at their centre positions.
  A.ticks = function (labels, length) {
    var pitch = length / labels.length, stride = Math.max(1, Math.ceil(12 / pitch)), out = [];
    for (var i = 0; i < labels.length; i += stride) {
      out.push({ at: (i + 0.5) * pitch, text: labels[i], i: i });
    }
    return out;
  };

  // Paints a heatmap: o.tile (a canvas of cells), o.rowLabels / o.colLabels (strings, one per
  // cell, or null), o.title, o.bar ({ top: the weight at full strength, label }), o.marks
  // (rows or columns to underline: { rows: [...], cols: [...] }).
  A.paintHeatmap = function (p, L, o) {
    if (o.title) p.text(L.x, 8, o.title, { size: 11, bold: true, width: L.w + 50 });
    p.image(o.tile, L.x, L.y, L.w, L.h);
    p.rect(L.x, L.y, L.w, L.h, null, "#bbb");
    if (o.rowLabels) {
      A.ticks(o.rowLabels, L.h).forEach(function (t) {
        p.text(L.x - 4, L.y + t.at, t.text,
          { size: 10, anchor: "end", width: L.x - 6, colour: "#333" });
      });
    }
    if (o.colLabels) {
      A.ticks(o.colLabels, L.w).forEach(function (t) {
        p.text(L.x + t.at, L.y + L.h + 4, t.text,
          { size: 10, anchor: "end", rotate: -90, width: 74, colour: "#333" });
      });
    }
    if (o.bar) A.paintColourBar(p, L.x + L.w + 8, L.y, 10, L.h, o.bar.top, o.bar.label);
  };

  A.paintColourBar = function (p, x, y, w, h, top, label) {
    var steps = 64, values = new Float32Array(steps);
    for (var i = 0; i < steps; i++) values[i] = 1 - i / (steps - 1);
    p.image(A.tile(values, 0, steps, 1, A.ink), x, y, w, h);
    p.rect(x, y, w, h, null, "#999");
    [0, 0.5, 1].forEach(function (f) {
      p.text(x + w + 3, y + (1 - f) * h, (f * top).toPrecision(2), { size: 9, colour: "#444" });
    });
    if (label) {
      p.text(x + w + 30, y + h / 2, label,
        { size: 9, rotate: -90, anchor: "middle", colour: "#555", width: h });
    }
  };

  // The cell under a pointer event over a heatmap drawn with layout L on ``canvas``.
  A.cellAt = function (canvas, L, rows, cols, event) {
    var box = canvas.getBoundingClientRect();
    var x = event.clientX - box.left - L.x, y = event.clientY - box.top - L.y;
    if (x < 0 || y < 0 || x >= L.w || y >= L.h) return null;
    return {
      row: Math.min(rows - 1, Math.floor((y / L.h) * rows)),
      col: Math.min(cols - 1, Math.floor((x / L.w) * cols))
    };
  };

  // ---- export --------------------------------------------------------------------------
  // PNG and SVG buttons: scene() returns { width, height, paint(painter) } of what the view
  // shows now; the PNG is that painting on a canvas at twice the resolution.
  A.exportButtons = function (parent, root, name, scene) {
    var group = A.el("span", "attnlab-export", parent);
    ["png", "svg"].forEach(function (kind) {
      var what = kind === "png" ? "a PNG picture" : "an SVG drawing";
      var title = "download " + what + " of what the view shows";
      A.button(group, "\u2913 " + kind.toUpperCase(), title, function () {
        var link = A.el("a", "", root);
        link.href = A.picture(scene(), kind);
        link.download = name + "." + kind;
        link.click();
        link.remove();
        root.dataset.exported = kind;
      });
    });
    root.attnlabPicture = function (kind) { return A.picture(scene(), kind); };
  };

  // The scene as a data: URL (no network, no object URL to revoke).
  A.picture = function (s, kind) {
    if (kind === "svg") {
      var svg = A.svgPainter(s.width, s.height);
      svg.clear("#fff");
      s.paint(svg);
      return "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg.done());
    }
    var canvas = document.createElement("canvas"), ratio = 2;
    canvas.width = Math.ceil(s.width * ratio);
    canvas.height = Math.ceil(s.height * ratio);
    canvas.cssWidth = s.width;
    canvas.cssHeight = s.height;
    canvas.getContext("2d").setTransform(ratio, 0, 0, ratio, 0, 0);
    var png = A.canvasPainter(canvas);
    png.clear("#fff");
    s.paint(png);
    return canvas.toDataURL("image/png");
  };

  // A heading line: the view's title and notes (top-k, batch item) that say what is shown.
  A.notes = function (root, lines) {
    var box = A.el("div", "attnlab-notes", root);
    lines.filter(Boolean).forEach(function (line) { A.el("div", "", box, line); });
    return box;
  };
})(window.attnlabViews);
