// Progressive enhancement: a "copy" button next to each share link. Without
// JavaScript the link is still shown in a read-only field and as a plain link.
// The result is said in the status next to it (role="status": screen readers read
// it), emptied first so that a second press is announced again.
(function () {
  "use strict";
  document.querySelectorAll(".copy-link").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy-target"));
    var status = button.parentNode.querySelector(".copy-status");
    if (!input || !status) { return; }
    button.hidden = false;

    function say(attribute) {
      status.textContent = "";
      window.setTimeout(function () { status.textContent = status.getAttribute(attribute); }, 100);
    }

    // The clipboard refused: the link is selected for the user to copy.
    function selectIt() {
      input.focus();
      input.select();
      say("data-select");
    }

    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(function () { say("data-copied"); }, selectIt);
        return;
      }
      input.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      if (copied) { say("data-copied"); } else { selectIt(); }
    });
  });
}());
