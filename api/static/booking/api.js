// The booking engine's HTTP API as the page uses it: fetch, a bearer token, idempotency keys,
// and the error envelope {"error": {"code", "message", "request_id"}} turned into an ApiError.

/** A refusal or failure of the API, with the envelope's code and request id. */
export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

// What a customer reads for each error code; the API's own message is kept for the rest.
const WORDS = {
  SLOT_UNAVAILABLE: "That time was just taken. Please choose another.",
  INSUFFICIENT_FUNDS: "Your wallet does not cover this booking. Top it up or pay by card.",
  TOO_MANY_ACTIVE_HOLDS: "You have too many unpaid bookings. Pay or wait for them to lapse.",
  BOOKING_NOT_CANCELLABLE: "This booking can no longer be cancelled.",
  INVALID_STATE: "This booking cannot be changed now.",
  UNAUTHENTICATED: "You are not signed in, or this link is no longer valid.",
  FORBIDDEN: "You may not do that.",
  RATE_LIMITED: "Too many requests. Please wait a moment and try again.",
  PAYMENT_PROVIDER_UNAVAILABLE: "Card payments are unavailable right now. Try again shortly.",
  DEPENDENCY_UNAVAILABLE: "The booking service is busy. Try again shortly.",
  NETWORK: "Could not reach the booking service. Check your connection and try again.",
};

/** The sentence to show a customer for an error. */
export function inWords(error) {
  if (error instanceof ApiError) {
    const words = WORDS[error.code] ?? error.message;
    return error.requestId ? `${words} (reference ${error.requestId})` : words;
  }
  return WORDS.NETWORK;
}

/**
 * A client of the API at `base` (its origin, e.g. "https://api.example.com").
 * `token` is an async function giving the customer's bearer token (or null).
 */
export function createApi(base, token) {
  async function call(method, path, { body, idempotent = false, auth = true } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (idempotent) headers["Idempotency-Key"] = crypto.randomUUID();
    const bearer = auth ? await token() : null;
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    let response;
    try {
      response = await fetch(new URL(path, base), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "NETWORK", WORDS.NETWORK, null);
    }
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      const error = answer?.error ?? {};
      throw new ApiError(
        response.status,
        error.code ?? `HTTP_${response.status}`,
        error.message ?? response.statusText,
        error.request_id ?? response.headers.get("X-Request-ID"),
      );
    }
    return answer;
  }

  return {
    resource: (id) => call("GET", `/v1/resources/${id}`),
    availability: (id, query) =>
      call("GET", `/v1/resources/${id}/availability?${new URLSearchParams(query)}`),
    book: (body) => call("POST", "/v1/bookings", { body, idempotent: true }),
    booking: (id) => call("GET", `/v1/bookings/${id}`),
    managed: (link) => call("GET", `/v1/manage/${link}`, { auth: false }),
    cancelManaged: (link) => call("POST", `/v1/manage/${link}/cancel`, { body: {}, auth: false }),
    moveManaged: (link, to) =>
      call("POST", `/v1/manage/${link}/reschedule`, { body: to, auth: false }),
  };
}
