// The web client's entry point: theme, session, and the page layout (room list, room, members,
// settings, admin console) chosen from the URL path.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Api, type Session } from "./api.ts";
import { Client, loadSession, saveSession } from "./client.ts";
import "./styles.css";
import { AuthScreen } from "./ui/auth.tsx";
import { ClientContext, Empty, Icon, lazyView, navigate, QuestionHost, Spinner, Toasts, usePath } from "./ui/common.tsx";
import { CreateRoomDialog, ExploreDialog, StartDmDialog } from "./ui/dialogs.tsx";
import { MemberPanel } from "./ui/members.tsx";
import { RoomView } from "./ui/room-view.tsx";
import { SettingsView, VerificationHost } from "./ui/settings.tsx";
import { Sidebar, type DialogName } from "./ui/sidebar.tsx";

const api = new Api();

function storedTheme(): string {
  return localStorage.getItem("hs.theme") ?? "system";
}

function applyTheme(t: string): void {
  const dark = t === "dark" || (t === "system" && matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}

applyTheme(storedTheme());

function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const [client, setClient] = useState<Client | undefined>();
  const [notice, setNotice] = useState("");
  const [, setTick] = useState(0);
  const [theme, setThemeState] = useState(storedTheme);

  const setTheme = (t: string) => {
    localStorage.setItem("hs.theme", t);
    setThemeState(t);
    applyTheme(t);
  };

  useEffect(() => {
    const mq = matchMedia("(prefers-color-scheme: dark)");
    const on = () => applyTheme(storedTheme());
    mq.addEventListener("change", on);
    return () => mq.removeEventListener("change", on);
  }, []);

  useEffect(() => {
    if (!session) return;
    const c = new Client(api, session);
    api.onLoggedOut = () => {
      c.stop();
      void c.discardCrypto();
      saveSession(undefined);
      setNotice("You were signed out (the session ended on the server). Please sign in again.");
      setSession(undefined);
    };
    const unsub = c.subscribe(() => setTick((n) => n + 1));
    c.start();
    setClient(c);
    return () => {
      unsub();
      c.stop();
      setClient(undefined);
    };
  }, [session]);

  if (!session || !client) {
    if (session) return <div class="boot" aria-busy="true" />;
    return (
      <>
        <AuthScreen
          api={api}
          notice={notice}
          onSession={(s) => {
            saveSession(s);
            setNotice("");
            if (location.search || location.hash) history.replaceState(null, "", "/");
            setSession(s);
          }}
        />
        <Toasts />
      </>
    );
  }

  const logout = async () => {
    await client.logout();
    saveSession(undefined);
    api.session = undefined;
    setSession(undefined);
    navigate("/", true);
  };

  return (
    <ClientContext.Provider value={client}>
      <Shell client={client} theme={theme} setTheme={setTheme} onLogout={logout} />
      <QuestionHost />
      <VerificationHost />
      <Toasts />
    </ClientContext.Provider>
  );
}

function Shell({ client, theme, setTheme, onLogout }: { client: Client; theme: string; setTheme: (t: string) => void; onLogout: () => void }) {
  const path = usePath();
  const [dialog, setDialog] = useState<DialogName>(null);
  const [showMembers, setShowMembers] = useState(() => matchMedia("(min-width: 1100px)").matches);
  const [settingsOpen, setSettingsOpen] = useState(false);
  const roomMatch = /^\/room\/(.+)$/.exec(path);
  const roomId = roomMatch ? decodeURIComponent(roomMatch[1]!) : undefined;
  const room = roomId ? client.rooms.get(roomId) : undefined;
  const page = path.startsWith("/admin") ? "admin" : path === "/settings" ? "settings" : room ? "room" : "home";
  const thread = room && client.threadView?.roomId === room.id ? client.threadView : undefined;
  const effectiveTheme = document.documentElement.dataset.theme ?? "light";

  useEffect(() => {
    document.title = room ? `${room.name} · Chat` : page === "admin" ? "Admin · Chat" : "Chat";
    const unread = [...client.rooms.values()].reduce((a, r) => a + (r.membership === "join" ? r.totalUnread().notifications : 0), 0);
    if (unread) document.title = `(${unread}) ${document.title}`;
  });

  // Unknown page paths go home; a room that disappeared (left, forgotten) too.
  useEffect(() => {
    if (page === "home" && path !== "/" && client.ready && !roomId) navigate("/", true);
  }, [path, client.ready]);

  return (
    <div class={`shell page-${page} ${(showMembers || thread) && page === "room" ? "with-members" : ""}`}>
      {client.syncState === "error" && (
        <div class="banner" role="alert">
          <Icon name="alert" size={16} /> Connection to the server lost. Reconnecting…
        </div>
      )}
      <Sidebar currentRoom={roomId} openDialog={setDialog} theme={effectiveTheme} toggleTheme={() => setTheme(effectiveTheme === "dark" ? "light" : "dark")} />
      {page === "room" && room ? (
        <>
          <RoomView room={room} showMembers={showMembers && !thread} toggleMembers={() => {
            if (thread) {
              client.closeThread();
              setShowMembers(true);
            } else setShowMembers(!showMembers);
          }} openSettings={() => setSettingsOpen(true)} />
          {thread && room.membership === "join" ? (
            <ThreadPanel room={room} rootId={thread.rootId} />
          ) : (
            showMembers && room.membership === "join" && <MemberPanel room={room} onClose={() => setShowMembers(false)} />
          )}
          {settingsOpen && <RoomSettingsDialog room={room} onClose={() => setSettingsOpen(false)} />}
        </>
      ) : page === "settings" ? (
        <SettingsView theme={theme} setTheme={setTheme} onLogout={onLogout} />
      ) : page === "admin" ? (
        <LazyAdmin tab={path.split("/")[2] ?? "overview"} />
      ) : (
        <main class="home">
          {roomId && client.ready ? (
            <Empty icon="alert" title="Room not found">
              <p class="muted">You are not in this room, or it no longer exists.</p>
            </Empty>
          ) : (
            <Empty icon="chat" title={`Welcome${client.profile.displayname ? `, ${client.profile.displayname}` : ""}`}>
              <p class="muted">Pick a conversation on the left, or start a new one.</p>
              <div class="row gap center">
                <button type="button" class="btn primary" onClick={() => setDialog("create")}>
                  Create a room
                </button>
                <button type="button" class="btn" onClick={() => setDialog("dm")}>
                  Message someone
                </button>
                <button type="button" class="btn" onClick={() => setDialog("explore")}>
                  Explore rooms
                </button>
              </div>
            </Empty>
          )}
        </main>
      )}
      {dialog === "create" && <CreateRoomDialog onClose={() => setDialog(null)} />}
      {dialog === "explore" && <ExploreDialog onClose={() => setDialog(null)} />}
      {dialog === "dm" && <StartDmDialog onClose={() => setDialog(null)} />}
    </div>
  );
}

render(<App />, document.getElementById("app")!);

// Views most sessions never open are chunks of their own.
const RoomSettingsDialog = lazyView<Parameters<typeof import("./ui/room-settings.tsx").RoomSettingsDialog>[0]>(() => import("./ui/room-settings.tsx").then((m) => m.RoomSettingsDialog));
const ThreadPanel = lazyView<Parameters<typeof import("./ui/threads.tsx").ThreadPanel>[0]>(() => import("./ui/threads.tsx").then((m) => m.ThreadPanel));

type AdminModule = typeof import("./ui/admin/index.tsx");
let adminModule: Promise<AdminModule> | undefined;

/** The admin console: a chunk of its own, loaded when an admin opens it (most people never do). */
function LazyAdmin({ tab }: { tab: string }) {
  const [mod, setMod] = useState<AdminModule | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    adminModule ??= import("./ui/admin/index.tsx");
    adminModule.then(setMod, (e: unknown) => {
      adminModule = undefined;
      setError(e instanceof Error ? e.message : String(e));
    });
  }, []);
  if (error) return <main class="page"><p class="error">The admin console could not load: {error}</p></main>;
  if (!mod) return <main class="page"><Spinner label="Loading the admin console" /></main>;
  return <mod.AdminConsole tab={tab} />;
}
