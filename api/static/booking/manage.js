// A manage link's page (/manage/{token}): see the booking, cancel it or move it. No sign-in: the
// token in the link is scoped to this one booking.

import { inWords } from "./api.js";
import { bookingSummary, freeTimes } from "./book.js";
import { spanOf } from "./format.js";
import { h, notice, show, timePicker } from "./view.js";

const CANCELLABLE = new Set(["HELD", "AWAITING_PAYMENT", "CONFIRMED"]);

/** The page at /manage/{token}. */
export async function managePage(root, api, link) {
  show(root, notice("Loading your booking…"));
  let booking;
  let resource = null;
  try {
    booking = await api.managed(link);
  } catch (error) {
    show(root, h("h1", {}, "Link not valid"), notice(inWords(error), "error"));
    return;
  }
  try {
    resource = await api.resource(booking.resource_id);
  } catch {
    // Without the resource the page still shows, cancels; moving needs its free times.
  }

  // `refunds: false` right after a change: its answer says what it refunded, as it stands.
  function view(message = null, offer = true, refunds = true) {
    const actions = h("div", { class: "actions" });
    if (!offer) {
      show(root, ...bookingSummary(booking, { refunds }), message);
      return;
    }
    if (CANCELLABLE.has(booking.status)) {
      actions.append(h("button", { type: "button", id: "cancel", onclick: askCancel }, "Cancel booking"));
    }
    if (booking.status === "CONFIRMED" && resource) {
      actions.append(h("button", { type: "button", id: "move", onclick: move }, "Move to another time"));
    }
    const title = resource ? h("p", { class: "muted" }, resource.name) : null;
    show(root, title, ...bookingSummary(booking, { refunds }), message, actions);
  }

  function askCancel() {
    const refund = resource?.refund_policy;
    const policy = refund
      ? `Full refund until ${refund.full_refund_hours_before} hours before the start,` +
        ` then ${refund.late_refund_percent}%.`
      : "";
    view(h(
      "div",
      { class: "confirm" },
      notice(`Cancel this booking? ${policy}`.trim()),
      h("button", { type: "button", class: "danger", id: "confirm-cancel", onclick: cancel }, "Yes, cancel it"),
      h("button", { type: "button", onclick: () => view() }, "Keep it"),
    ), false);
  }

  async function cancel() {
    view(notice("Cancelling…"));
    try {
      const result = await api.cancelManaged(link);
      booking = await api.managed(link);
      // The refund as it stands (made, on its way, or owed), in the words of the mails.
      const refunded = result.refund ? ` ${result.refund.words}` : "";
      view(notice(`Your booking is cancelled.${refunded}`, "ok"), true, !result.refund);
    } catch (error) {
      view(notice(inWords(error), "error"));
    }
  }

  async function move() {
    const minutes = (new Date(booking.ends_at) - new Date(booking.starts_at)) / 60000;
    show(root, h("h1", {}, "Move to another time"), notice("Loading free times…"));
    try {
      const days = await freeTimes(api, resource, minutes);
      show(
        root,
        h("h1", {}, "Move to another time"),
        timePicker(days, moveTo, "Free times"),
        h("div", { class: "actions" }, h("button", { type: "button", onclick: () => view() }, "Keep the current time")),
      );
    } catch (error) {
      view(notice(inWords(error), "error"));
    }
  }

  async function moveTo(item) {
    const to = item.slot_id
      ? { slot_id: item.slot_id }
      : { starts_at: item.starts_at, ends_at: item.ends_at };
    show(root, notice("Moving your booking…"));
    try {
      const result = await api.moveManaged(link, to);
      booking = result.booking;
      const refunded = result.refund ? ` ${result.refund.words}` : "";
      view(notice(`Your booking is moved to ${spanOf(booking.starts_at, booking.ends_at)}.${refunded}`, "ok"), true, !result.refund);
    } catch (error) {
      view(notice(inWords(error), "error"));
    }
  }

  view();
}
