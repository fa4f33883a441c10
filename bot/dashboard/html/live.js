// The live inbox: listens to /dashboard/live (server-sent events) and reloads the parts of this page that changed.
// The browser reconnects by itself and sends the last event id, so the server tells what was missed.
(() => {
  "use strict";
  const chatOf = () => document.getElementById("transcript");
  const waId = chatOf() ? chatOf().dataset.waId : null;

  function toNewest() {
    const chat = chatOf();
    const newest = chat && chat.querySelector("#latest");
    if (newest) newest.scrollIntoView({ block: "end" });
  }

  function showTotal(total) {
    const badge = document.getElementById("unread-total");
    if (!badge || typeof total !== "number") return;
    badge.textContent = total > 0 ? String(total) : "";
    badge.hidden = total <= 0;
  }

  // Fetch this page again and swap in the fresh copies of the elements with these ids (the reply form is left alone).
  async function refresh(ids) {
    const response = await fetch(window.location.pathname, { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of ids) {
      const now = document.getElementById(id);
      const next = fresh.getElementById(id);
      if (now && next) now.replaceWith(document.importNode(next, true));
    }
    if (ids.includes("transcript")) toNewest();
  }

  const parts = ["inbox-list", "transcript", "chat-lead", "chat-release", "unread-total"].filter((id) => document.getElementById(id));
  let broken = false;
  const source = new EventSource("/dashboard/live");
  const on = (kind, act) => source.addEventListener(kind, (event) => act(JSON.parse(event.data)));
  const listed = (wa) => document.querySelector(`#inbox-list tr[data-wa-id="${CSS.escape(wa || "")}"]`);
  on("message", (data) => {
    showTotal(data.unread_total);
    if (listed(data.wa_id)) refresh(["inbox-list", "unread-total"]);
    if (waId && data.wa_id === waId) refresh(["transcript", "unread-total"]);
  });
  on("handoff", (data) => {
    showTotal(data.unread_total);
    if (document.getElementById("inbox-list")) refresh(["inbox-list", "unread-total"]);
    if (waId && data.wa_id === waId) refresh(["chat-lead", "chat-release", "transcript", "unread-total"]);
  });
  on("reset", () => refresh(parts));
  on("ready", () => {
    if (broken) refresh(parts);  // handoffs are not replayed after a reconnect: reload what may have changed
    broken = false;
  });
  source.onerror = () => { broken = true; };
  window.addEventListener("pagehide", () => source.close());
  if (waId) toNewest();
})();
