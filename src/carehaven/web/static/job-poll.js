// While an upload's job (or a release's approval) waits, ask the API for its state every 2 s and
// reload the page once it has ended. Not <meta http-equiv="refresh">: that reloads the page under
// its reader every few seconds (WCAG 2.2.1; axe's meta-refresh rule). Without script: a link.
const waiting = document.getElementById("job-waiting");
if (waiting) {
  const poll = async () => {
    try {
      const answer = await fetch(waiting.dataset.poll, {
        credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!answer.ok) return;  // signed out, or gone: the link still works
      const job = await answer.json();
      if (job.state !== "queued" && job.state !== "running") {
        window.location.reload();
        return;
      }
    } catch (e) {
      // the network blinked: ask again at the next tick
    }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
}
