// Measures a report page loaded in the iframe #page, and writes the result as JSON into the host
// page's <body data-check="...">, which `chromium --dump-dom` prints. Used by
// tests/test_analysis_report.py (the browser check of report.html).
function breaksInsideWords(el) {
  // Positions where a line of `el` wraps between two non-space characters.
  var bad = [];
  var walker = el.ownerDocument.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  var node, prevTop = null, prevChar = "";
  while ((node = walker.nextNode())) {
    var text = node.textContent;
    for (var i = 0; i < text.length; i++) {
      var range = el.ownerDocument.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      var rects = range.getClientRects();
      if (!rects.length) { prevChar = text[i]; continue; }
      var top = rects[0].top;
      if (prevTop !== null && top > prevTop + 1 && !/\s/.test(prevChar) && !/\s/.test(text[i])) {
        bad.push(text.slice(Math.max(0, i - 12), i) + "|" + text.slice(i, i + 12));
      }
      prevTop = top;
      prevChar = text[i];
    }
  }
  return bad;
}

function check(frame) {
  var doc = frame.contentDocument, win = frame.contentWindow, width = win.innerWidth;
  var out = {
    width: width,
    scrollWidth: doc.documentElement.scrollWidth,
    pre: doc.querySelectorAll("pre").length,
    preBreaks: [],
    tables: doc.querySelectorAll("table").length,
    tablesOutsideScroll: 0,
    wideBoxes: [],
    images: doc.querySelectorAll("img").length,
    imagesLoaded: 0,
    headings: Array.prototype.map.call(doc.querySelectorAll("h2"), function (h) { return h.textContent; })
  };
  doc.querySelectorAll("pre").forEach(function (pre) { out.preBreaks = out.preBreaks.concat(breaksInsideWords(pre)); });
  doc.querySelectorAll("table").forEach(function (t) {
    if (!t.parentElement.classList.contains("scroll")) out.tablesOutsideScroll++;
  });
  doc.querySelectorAll("p, li, pre, .scroll, figure, h1, h2, h3").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.right > width + 1) out.wideBoxes.push(el.tagName + ": " + el.textContent.slice(0, 40));
  });
  doc.querySelectorAll("img").forEach(function (img) {
    if (img.complete && img.naturalWidth > 0 && img.getBoundingClientRect().right <= width + 1) out.imagesLoaded++;
  });
  document.body.setAttribute("data-check", JSON.stringify(out));
}

document.getElementById("page").addEventListener("load", function () { check(this); });
