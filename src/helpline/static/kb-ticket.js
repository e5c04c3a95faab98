// Agents: put a suggested article's link or excerpt into the reply box of the ticket page.
// The suggestions fragment (/kb/suggest-for-ticket/ID) carries buttons with data-kb-insert="TEXT";
// the reply box is the page's textarea#composer-body (or any textarea named body).
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var button = e.target.closest("[data-kb-insert]");
    if (!button) { return; }
    var box = document.getElementById("composer-body") || document.querySelector("textarea[name=body]");
    if (!box) { return; }
    var insert = button.getAttribute("data-kb-insert");
    var start = box.selectionStart || box.value.length, end = box.selectionEnd || box.value.length;
    var before = box.value.slice(0, start), after = box.value.slice(end);
    var sep = before && !/\n$/.test(before) ? "\n" : "";
    box.value = before + sep + insert + "\n" + after;
    box.focus();
    var at = (before + sep + insert + "\n").length;
    box.setSelectionRange(at, at);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });
})();
