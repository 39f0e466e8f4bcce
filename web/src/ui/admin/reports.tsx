// The admin console's reported messages: list and dismiss.
import { arr, obj, str } from "../../api.ts";
import { attempt, useClient } from "../common.tsx";
import { A1, DataTable, enc, Loaded, useLoad, when } from "./common.tsx";

export function Reports() {
  const client = useClient();
  const [state, reload] = useLoad(async () => arr((await client.api.get(`${A1}/event_reports`, { limit: 100, dir: "b" })).event_reports).map(obj), []);
  return (
    <section>
      <Loaded state={state}>
        {(reports) =>
          reports.length === 0 ? (
            <p class="muted">No reported messages. Members report messages from the message menu.</p>
          ) : (
            <DataTable
              label="Reported messages"
              rows={reports}
              rowKey={(r) => String(r.id ?? "")}
              columns={[
                { label: "Reported", class: "small", cell: (r) => when(r.received_ts) },
                {
                  label: "Room",
                  cell: (r) => (
                    <>
                      {str(r.name) ?? str(r.canonical_alias) ?? ""}
                      <br />
                      <span class="muted small">{str(r.room_id)}</span>
                    </>
                  ),
                },
                { label: "By", class: "small", cell: (r) => str(r.user_id) },
                { label: "Sender", class: "small", cell: (r) => str(r.sender) },
                { label: "Reason", cell: (r) => str(r.reason) ?? <span class="muted">no reason given</span> },
                {
                  label: "Actions",
                  actions: true,
                  cell: (r) => (
                    <button type="button" class="btn small" onClick={() => void attempt(async () => {
                      await client.api.del(`${A1}/event_reports/${enc(String(r.id ?? ""))}`);
                      reload();
                    }, "Report dismissed")}>
                      Dismiss
                    </button>
                  ),
                },
              ]}
            />
          )
        }
      </Loaded>
    </section>
  );
}
