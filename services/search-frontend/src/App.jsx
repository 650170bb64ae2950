// The search page: a box, and what the plugin's search API found. It reads ?q= from the address and
// searches at once (so loading /app/?q=apixaban is a search), and keeps ?q= in step with each search.
// The <main> element's data-state says where it is: idle | loading | done | error.
import { useEffect, useState } from "react";
import { search, SearchError } from "./api.js";

const KIND_LABELS = { guidance: "Guidance", monograph: "Medicine monograph" };

export function queryFromLocation(location = window.location) {
  return (new URLSearchParams(location.search).get("q") || "").trim();
}

function Results({ result }) {
  if (result.items.length === 0) {
    return <p className="empty" role="status">No results for “{result.query}”.</p>;
  }
  return (
    <>
      <p className="count" role="status">
        {result.total} {result.total === 1 ? "result" : "results"} for “{result.query}”
      </p>
      <ol className="results">
        {result.items.map((item) => (
          <li key={item.id} data-id={item.id} data-type={item.type}>
            <a href={item.permalink}>{item.title}</a>
            <span className="type">{KIND_LABELS[item.kind] || item.type}</span>
          </li>
        ))}
      </ol>
    </>
  );
}

export default function App() {
  const [input, setInput] = useState(queryFromLocation);
  const [query, setQuery] = useState(queryFromLocation);
  const [state, setState] = useState({ status: "idle" });

  useEffect(() => {
    if (!query) {
      setState({ status: "idle" });
      return undefined;
    }
    const controller = new AbortController();
    setState({ status: "loading" });
    search(query, { signal: controller.signal }).then(
      (result) => setState({ status: "done", result }),
      (err) => {
        if (err.name === "AbortError") return;
        const message = err instanceof SearchError ? err.message : String(err);
        setState({ status: "error", message });
      },
    );
    return () => controller.abort();
  }, [query]);

  function onSubmit(event) {
    event.preventDefault();
    const q = input.trim();
    const url = new URL(window.location.href);
    if (q) url.searchParams.set("q", q);
    else url.searchParams.delete("q");
    window.history.replaceState(null, "", url);
    setQuery(q);
  }

  const { status, result, message } = state;
  return (
    <main data-state={status} data-source={result ? result.source : undefined}>
      <h1>Search medicines guidance</h1>
      <form role="search" onSubmit={onSubmit}>
        <label htmlFor="q" className="visually-hidden">Search</label>
        <input id="q" name="q" type="search" value={input} autoFocus
               onChange={(event) => setInput(event.target.value)} />
        <button type="submit">Search</button>
      </form>
      {status === "loading" && <p role="status">Searching…</p>}
      {status === "error" && (
        <p className="error" role="alert">Search is not working at the moment: {message}. Please try again later.</p>
      )}
      {status === "done" && result.fallback === "mysql" && (
        <p className="notice fallback" role="note">
          <strong>Search is in fallback mode (MySQL): results may be incomplete or less relevant.</strong>{" "}
          {result.notice}
        </p>
      )}
      {status === "done" && <Results result={result} />}
    </main>
  );
}
