// Booking: free times in the customer's zone, wallet or gateway payment, checkout and back,
// the confirmation.

import { inWords } from "./api.js";
import { byDay, customerZone, moneyOf, spanOf, timeOf } from "./format.js";
import { h, notice, show, timePicker } from "./view.js";

const DAYS_SHOWN = 7;
const SETTLING = new Set(["HELD", "AWAITING_PAYMENT"]);

/** Free starts for the next days, labelled for the picker. */
export async function freeTimes(api, resource, minutes = resource.min_duration_minutes) {
  const from = new Date();
  const query = {
    from: from.toISOString(),
    to: new Date(from.getTime() + DAYS_SHOWN * 86400000).toISOString(),
  };
  if (resource.booking_mode === "range") query.duration_minutes = minutes;
  const { items } = await api.availability(resource.id, query);
  for (const item of items) {
    const end = resource.booking_mode === "range" ? ` – ${timeOf(item.ends_at)}` : "";
    item.label = `${timeOf(item.starts_at)}${end} · ${moneyOf(item.price)}`;
  }
  return byDay(items);
}

/** The page at /book/{resource_id}. */
export async function bookPage(root, api, resourceId, token) {
  const back = new URLSearchParams(location.search);
  if (back.has("booking_id")) {
    await confirmation(root, api, back.get("booking_id"), back.get("outcome"));
    return;
  }
  show(root, notice("Loading free times…"));
  let resource;
  try {
    resource = await api.resource(resourceId);
  } catch (error) {
    show(root, notice(inWords(error), "error"));
    return;
  }
  const heading = [
    h("h1", {}, `Book ${resource.name}`),
    h("p", { class: "muted", id: "zone" }, `Times are shown in your time zone (${customerZone}).`),
  ];

  async function pick(message) {
    show(root, heading, message, notice("Loading free times…"));
    try {
      const days = await freeTimes(api, resource);
      show(root, heading, message, timePicker(days, choose, "Free times"));
    } catch (error) {
      show(root, heading, notice(inWords(error), "error"));
    }
  }

  function choose(item) {
    const form = h(
      "form",
      { class: "checkout", onsubmit: (event) => submit(event, item, form) },
      h("p", { class: "chosen" }, spanOf(item.starts_at, item.ends_at)),
      h("p", { class: "price" }, moneyOf(item.price)),
      h(
        "fieldset",
        {},
        h("legend", {}, "Pay with"),
        h("label", {}, h("input", { type: "radio", name: "method", value: "wallet", checked: true }),
          " My wallet"),
        h("label", {}, h("input", { type: "radio", name: "method", value: "gateway" }),
          " Card (secure checkout)"),
      ),
      h("label", { class: "email" }, "Email for the confirmation (optional)",
        h("input", { type: "email", name: "email", autocomplete: "email" })),
      h("p", { id: "status", role: "status" }),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "primary" }, "Book"),
        h("button", { type: "button", onclick: () => pick(null) }, "Choose another time"),
      ),
    );
    show(root, heading, form);
  }

  async function submit(event, item, form) {
    event.preventDefault();
    const status = form.querySelector("#status");
    if (!(await token())) {
      status.replaceWith(notice("Please sign in to book.", "error"));
      return;
    }
    const method = form.elements.method.value;
    const email = form.elements.email.value.trim();
    const body = item.slot_id
      ? { slot_id: item.slot_id }
      : { resource_id: resource.id, starts_at: item.starts_at, ends_at: item.ends_at };
    body.payment = method === "wallet" ? { method } : { method, provider: root.dataset.provider || "sandbox" };
    body.contact = { timezone: customerZone, ...(email ? { email } : {}) };
    if (method === "gateway") body.return_url = location.origin + location.pathname;
    form.querySelectorAll("button").forEach((button) => { button.disabled = true; });
    status.textContent = "Booking…";
    try {
      const booking = await api.book(body);
      if (booking.status === "AWAITING_PAYMENT" && booking.payment.checkout_url) {
        status.textContent = "Taking you to the checkout…";
        location.assign(booking.payment.checkout_url);
        return;
      }
      await confirmation(root, api, booking.id, null, booking);
    } catch (error) {
      if (error.code === "SLOT_UNAVAILABLE") {
        await pick(notice(inWords(error), "error"));
        return;
      }
      status.replaceWith(notice(inWords(error), "error"));
      form.querySelectorAll("button").forEach((button) => { button.disabled = false; });
    }
  }

  await pick(null);
}

/** The booking once created or back from the checkout, read until its payment settles. */
async function confirmation(root, api, bookingId, outcome, booking = null) {
  show(root, h("h1", {}, "Your booking"), notice(outcome ? "Checking your payment…" : "Confirming…"));
  try {
    booking ??= await api.booking(bookingId);
    for (let tries = 0; SETTLING.has(booking.status) && outcome !== "declined" && tries < 30; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      booking = await api.booking(bookingId);
    }
  } catch (error) {
    show(root, h("h1", {}, "Your booking"), notice(inWords(error), "error"));
    return;
  }
  show(root, ...bookingSummary(booking, { outcome, justBooked: true }));
}

const HEADLINES = {
  CONFIRMED: ["You're booked", "ok"],
  AWAITING_PAYMENT: ["Waiting for your payment", "info"],
  HELD: ["Holding your time", "info"],
  CANCELLED: ["This booking is cancelled", "info"],
  EXPIRED: ["The payment window closed; the time was released", "error"],
  FAILED: ["The booking did not go through", "error"],
  COMPLETED: ["This booking is over", "info"],
};

/**
 * What a customer sees of a booking: when, what it cost, how it was paid, its reference, and
 * its refunds in the words the mails use (made, on its way, or owed). `refunds: false` leaves
 * them out where the page has just said what a change refunded.
 */
export function bookingSummary(booking, { outcome = null, justBooked = false, refunds = true } = {}) {
  const [headline, kind] = HEADLINES[booking.status] ?? [booking.status, "info"];
  const paid = booking.payment.method === "wallet" ? "from your wallet" : "by card";
  const parts = [
    h("h1", { id: "headline", "data-status": booking.status }, headline),
    h("p", { class: "chosen" }, spanOf(booking.starts_at, booking.ends_at)),
    h("dl", {},
      h("dt", {}, "Price"), h("dd", {}, `${moneyOf(booking.amount)} ${paid}`),
      h("dt", {}, "Status"), h("dd", { id: "booking-status" }, booking.status),
      h("dt", {}, "Reference"), h("dd", { id: "booking-id" }, booking.id),
      booking.meeting?.status === "READY" && booking.meeting.url ? [h("dt", {}, "Meeting"), h("dd", {}, h("a", { href: booking.meeting.url }, booking.meeting.url))] : [],
    ),
  ];
  if (refunds && booking.refunds?.length) {
    parts.push(h("section", { class: "refunds", id: "refunds" },
      h("h2", {}, "Refunds"),
      h("ul", {}, booking.refunds.map((refund) => h("li", {}, refund.words)))));
  }
  if (outcome === "declined" && booking.status === "AWAITING_PAYMENT") {
    const until = booking.hold_expires_at ? `until ${timeOf(booking.hold_expires_at)}` : "for a few minutes";
    parts.push(notice(`Your payment was declined. You can try again ${until}; the time is held for you.`, "error"));
    parts.push(h("p", {}, h("a", { href: booking.payment.checkout_url, class: "button" }, "Pay again")));
  } else if (kind === "ok" && justBooked) {
    parts.push(notice("A confirmation is on its way if you gave an email.", "ok"));
  }
  return parts;
}
