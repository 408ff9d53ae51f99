// The reference booking page: `/book/{resource_id}` to book, `/manage/{token}` to see, cancel or
// move a booking. Plain ES modules, no build step: copy this folder into your application.
//
// Mount: <main id="booking-page"> with optional attributes
//   data-api         the API's origin (default: where these files are served from)
//   data-resource-id the resource to book (default: from /book/{id} in the address)
//   data-manage      a manage link's token (default: from /manage/{token} in the address)
//   data-token-url   a URL of your application answering {"token": "<the customer's JWT>"}
//                    to a credentialed GET (cookies sent)
// or define window.bookingToken = async () => "<JWT>" before this module runs.
// For trying it locally (make dev) the page also takes a token in the address: #token=<JWT>.

import { createApi } from "./api.js";
import { bookPage } from "./book.js";
import { managePage } from "./manage.js";
import { notice, show } from "./view.js";

const root = document.getElementById("booking-page");
const config = root.dataset;
const base = config.api || new URL(import.meta.url).origin;
const path = location.pathname.split("/").filter(Boolean);
const segment = (name) => (path.at(-2) === name ? decodeURIComponent(path.at(-1)) : undefined);

const DEV_TOKEN = "booking-page-token";
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.has("token")) {
  // Dev login: keep the token for this tab only and take it out of the address bar.
  sessionStorage.setItem(DEV_TOKEN, fragment.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}

let cached = null;

/** The customer's token from the host application (provider, token URL, or dev fragment). */
async function customerToken() {
  if (typeof window.bookingToken === "function") return window.bookingToken();
  if (config.tokenUrl) {
    cached ??= fetch(config.tokenUrl, { credentials: "include" })
      .then((response) => (response.ok ? response.json() : {}))
      .then((body) => body.token ?? null)
      .catch(() => null);
    return cached;
  }
  return sessionStorage.getItem(DEV_TOKEN);
}

const api = createApi(base, customerToken);
const resourceId = config.resourceId || segment("book");
const manage = config.manage || segment("manage");

if (manage) managePage(root, api, manage);
else if (resourceId) bookPage(root, api, resourceId, customerToken);
else show(root, notice("Nothing to show: open /book/{resource_id} or a manage link.", "error"));
