// The must-use plugin's JSON search API, on the same origin as this page (nginx serves both: no CORS).
//   search("apixaban") -> {query, source, total, items: [{id, type, kind, title, permalink, ...}],
//                          fallback?: "mysql", notice?: "..."}
// Throws SearchError with a message a reader can be shown when the API does not answer with JSON.
export const SEARCH_URL = "/wp-json/gameday/v1/search";

export class SearchError extends Error {}

export async function search(query, { size = 20, signal } = {}) {
  const url = `${SEARCH_URL}?${new URLSearchParams({ q: query, size: String(size) })}`;
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new SearchError(`the search API could not be reached (${err.message})`);
  }
  if (!response.ok) {
    throw new SearchError(`the search API answered HTTP ${response.status}`);
  }
  try {
    return await response.json();
  } catch {
    throw new SearchError("the search API answered with something that is not JSON");
  }
}
