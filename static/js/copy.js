// Progressive enhancement: the Copy button appears only when the clipboard API exists.
document.querySelectorAll("button[data-copy-target]").forEach((button) => {
  if (!navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const target = document.getElementById(button.dataset.copyTarget);
    try {
      await navigator.clipboard.writeText(target.textContent);
      button.textContent = "Copied";
    } catch (err) {
      button.textContent = "Copy failed: select the text instead";
    }
    setTimeout(() => { button.textContent = "Copy JSON"; }, 2000);
  });
});
