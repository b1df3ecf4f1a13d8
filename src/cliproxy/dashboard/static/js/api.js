// Calls to the dashboard's API: the session cookie goes by itself, the CSRF token in a header.
let csrf = "";
let loggedOut = () => {};

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export function setCsrf(token) { csrf = token; }
export function onLoggedOut(handler) { loggedOut = handler; }

export async function call(method, path, body) {
  const headers = { "x-csrf-token": csrf };
  let payload;
  if (typeof body === "string") {
    headers["content-type"] = "application/yaml";
    payload = body;
  } else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(`api/${path}`, { method, headers, body: payload, credentials: "same-origin" });
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (response.status === 401 && path !== "login") loggedOut();
  if (!response.ok) {
    const message = (data && data.error) || (typeof data === "string" && data) || response.statusText;
    throw new ApiError(response.status, message);
  }
  return data;
}

// The management API, reached behind the session.
export const management = (method, path, body) => call(method, `m/${path}`, body);
