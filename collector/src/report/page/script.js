// Sorting tables by a column (a click on its heading; again for the other way) and the
// hover tips of the charts (their numbers are in data-tip). Nothing is fetched.
(function () {
  "use strict";
  var tip = document.getElementById("tip");
  function show(el, x, y) {
    tip.textContent = el.getAttribute("data-tip");
    tip.hidden = false;
    tip.style.left = x + 14 + "px";
    tip.style.top = y + 14 + "px";
  }
  document.addEventListener("mouseover", function (e) {
    var el = e.target.closest ? e.target.closest("[data-tip]") : null;
    if (el) {
      show(el, e.pageX, e.pageY);
    } else {
      tip.hidden = true;
    }
  });
  document.addEventListener("mousemove", function (e) {
    if (!tip.hidden) {
      tip.style.left = e.pageX + 14 + "px";
      tip.style.top = e.pageY + 14 + "px";
    }
  });
  // A cell's sort key: its data-v number when it has one, else its text.
  function key(row, col) {
    var c = row.cells[col];
    if (!c) return "";
    var v = c.getAttribute("data-v");
    return v === null ? c.textContent : Number(v);
  }
  function sortBy(th) {
    var table = th.closest("table");
    var body = table.tBodies[0];
    var col = th.cellIndex;
    var dir = th.getAttribute("data-dir") === "-1" ? 1 : -1;
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute("data-dir");
    th.setAttribute("data-dir", String(dir));
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col), y = key(b, col);
      if (typeof x === "number" && typeof y === "number") return (x - y) * dir;
      return String(x).localeCompare(String(y)) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  var heads = document.querySelectorAll("table.sort th");
  for (var i = 0; i < heads.length; i++) {
    heads[i].addEventListener("click", function (e) { sortBy(e.currentTarget); });
  }
  // `#selftest`: sort every table by its second column and hover the first mark, then
  // say on <body> whether both did what they should (the browser test reads it).
  if (location.hash === "#selftest") {
    var ok = true;
    var tables = document.querySelectorAll("table.sort");
    for (var t = 0; t < tables.length; t++) {
      var th = tables[t].tHead.rows[0].cells[1];
      if (!th) continue;
      sortBy(th);
      var rows = tables[t].tBodies[0].rows;
      for (var r = 1; r < rows.length; r++) {
        var a = key(rows[r - 1], 1), b = key(rows[r], 1);
        if (typeof a === "number" && typeof b === "number" && a < b) ok = false;
      }
    }
    var mark = document.querySelector("[data-tip]");
    if (mark) {
      mark.dispatchEvent(new MouseEvent("mouseover", { bubbles: true, clientX: 5, clientY: 5 }));
      if (tip.hidden || tip.textContent !== mark.getAttribute("data-tip")) ok = false;
    }
    document.body.setAttribute("data-selftest", ok ? "ok" : "failed");
  }
  document.body.setAttribute("data-ready", "1");
})();
