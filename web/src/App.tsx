import { useSession } from './auth/session';
import { LoginLinkPage } from './auth/LoginLinkPage';
import { SignInScreen } from './auth/SignInScreen';
import { Inbox } from './inbox/Inbox';
import { useRoute } from './routing/router';
import { Toasts } from './ui/Toasts';

/** The page for the address and the session: a sign-in link, the sign-in screen, or the inbox. */
export function App() {
  const route = useRoute();
  const session = useSession(route.page !== 'login');
  let page;
  if (route.page === 'login') page = <LoginLinkPage token={route.token} />;
  else if (session.isPending) page = <p className="loading-page">Loading…</p>;
  else if (session.isError) page = <SignInScreen notice="Switchboard could not be reached. Try again in a moment." />;
  else if (!session.data) page = <SignInScreen />;
  else page = <Inbox route={route} />;
  return (
    <>
      {page}
      <Toasts />
    </>
  );
}
