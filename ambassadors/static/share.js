// Progressive enhancement: a "copy" button next to each share link. Without
// JavaScript the link is still shown in a read-only field and as a plain link.
(function () {
  "use strict";
  document.querySelectorAll(".copy-link").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy-target"));
    var status = button.parentNode.querySelector(".copy-status");
    if (!input) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () { if (status) { status.textContent = status.getAttribute("data-copied"); } };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
      } else {
        input.select();
        try { if (document.execCommand("copy")) { done(); } } catch (e) { /* selected: the user copies */ }
      }
    });
  });
}());
