"""The hosted checkout page: plain HTML, no external assets, one tiny inline script."""

from __future__ import annotations

import json
from html import escape

from models.return_urls import Outcome, with_query
from sandbox.store import Order, rfc3339

# ISO 4217 minor-unit exponents that are not 2.
_EXPONENTS = {
    **dict.fromkeys(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"], 0),
    **dict.fromkeys(["RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem; }
.amount { font-size: 2rem; font-weight: 600; margin: 1rem 0; }
button { font-size: 1rem; padding: .6rem 1.4rem; margin-right: .5rem; cursor: pointer; }
.muted { color: #666; font-size: .9rem; }
"""

_SCRIPT = """
const payUrl = %s;
// Where the browser goes after a payment or a decline (null: it stays here).
const returnTo = %s;
const status = document.getElementById("status");
const buttons = document.querySelectorAll("button[data-outcome]");
for (const button of buttons) {
  button.addEventListener("click", async () => {
    buttons.forEach((b) => { b.disabled = true; });
    status.textContent = "Processing…";
    let done = false;
    try {
      const response = await fetch(payUrl, {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({outcome: button.dataset.outcome}),
      });
      const result = await response.json();
      if (!response.ok) {
        status.textContent = result.error ? result.error.message : "Something went wrong.";
        done = response.status === 409;
      } else if (result.status === "captured") {
        status.textContent = "Payment successful (" + result.id + ").";
        done = true;
        if (returnTo) { window.location.assign(returnTo.paid); }
      } else if (returnTo) {
        status.textContent = "Payment declined (" + result.id + ").";
        done = true;
        window.location.assign(returnTo.declined);
      } else {
        status.textContent = "Payment declined (" + result.id + "). You may try again.";
      }
    } catch (error) {
      status.textContent = "Network error: " + error;
    }
    if (!done) { buttons.forEach((b) => { b.disabled = false; }); }
  });
}
"""


def format_amount(minor: int, currency: str) -> str:
    """``123450, "INR"`` -> ``"1,234.50"``, using the currency's minor-unit exponent."""
    exponent = _EXPONENTS.get(currency, 2)
    if exponent == 0:
        return f"{minor:,}"
    units, fraction = divmod(minor, 10**exponent)
    return f"{units:,}.{fraction:0{exponent}d}"


def return_urls(order: Order) -> dict[Outcome, str] | None:
    """Where the checkout sends the browser after each outcome, or None without a return URL."""
    if order.return_url is None:
        return None
    return {
        "paid": with_query(order.return_url, outcome="paid"),
        "declined": with_query(order.return_url, outcome="declined"),
    }


def _script_value(value: object) -> str:
    # json.dumps quotes for JS; escaping "</" keeps the value inside <script>.
    return json.dumps(value).replace("</", "<\\/")


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def checkout_page(order: Order) -> str:
    """The page for an order: pay and decline buttons, or "already paid"."""
    amount = f"{format_amount(order.amount, order.currency)} {order.currency}"
    lines = [
        "<h1>Sandbox checkout</h1>",
        f'<p class="muted">Order {escape(order.id)} &middot; receipt {escape(order.receipt)}</p>',
        f'<p class="amount" id="amount">{escape(amount)}</p>',
    ]
    if order.expires_at is not None:
        lines.append(f'<p class="muted">Expires at {escape(rfc3339(order.expires_at))}</p>')
    returns = return_urls(order)
    if returns is not None:
        lines.append(
            f'<p class="muted" id="return-url">Afterwards you return to '
            f"{escape(order.return_url or '')}</p>"
        )
    if order.status == "paid":
        lines.append('<p id="status">This order is already paid.</p>')
        if returns is not None:
            lines.append(f'<p><a id="return" href="{escape(returns["paid"])}">Continue</a></p>')
    else:
        pay_url = _script_value(f"/v1/orders/{order.id}/pay")
        lines += [
            '<p><button type="button" data-outcome="success">Pay</button>',
            '<button type="button" data-outcome="failure">Decline</button></p>',
            '<p id="status" role="status"></p>',
            f"<script>{_SCRIPT % (pay_url, _script_value(returns))}</script>",
        ]
    return _page(f"Pay {amount}", "\n".join(lines))


def not_found_page(order_id: str) -> str:
    """The page for an unknown order."""
    return _page(
        "Order not found",
        f"<h1>Order not found</h1>\n<p>There is no order {escape(order_id)}.</p>",
    )
