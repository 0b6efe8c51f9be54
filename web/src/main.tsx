import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { setCsrfFailedHandler, setUnauthenticatedHandler } from './api/client';
import { ApiError, isUnauthenticated } from './api/problem';
import type { Session } from './api/types';
import { App } from './App';
import { leave } from './auth/session';
import { showError, showToast } from './ui/toasts';
import './styles.css';

const queryClient: QueryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      // The live stream says when something changed; a 4xx will not change by asking again.
      retry: (count, err) => count < 2 && !(err instanceof ApiError && err.status >= 400 && err.status < 500),
    },
  },
  queryCache: new QueryCache({
    onError: (err, query) => {
      // A missing conversation is said where it would be shown; a lost session leads to sign-in.
      if (isUnauthenticated(err) || (err instanceof ApiError && err.status === 404) || query.queryKey[0] === 'session') return;
      showError(err);
    },
  }),
  mutationCache: new MutationCache({ onError: (err) => (isUnauthenticated(err) ? undefined : showError(err)) }),
});

let signedOutNotice = false;
setUnauthenticatedHandler(() => {
  if (!queryClient.getQueryData(['session'])) return;
  leave(queryClient);
  if (!signedOutNotice) {
    signedOutNotice = true;
    showToast('Your session has ended.', 'Sign in again to continue.');
    setTimeout(() => (signedOutNotice = false), 5_000);
  }
});

// The cookie changed hands (signed in again in another tab): read the session, and its
// token, again (the refused write's toast asks to try again); as another member,
// nothing read for the first may stay on screen, so the page starts over.
setCsrfFailedHandler(async () => {
  const before = queryClient.getQueryData<Session | null>(['session']);
  await queryClient.refetchQueries({ queryKey: ['session'] });
  const after = queryClient.getQueryData<Session | null>(['session']);
  if (after && before && after.member.id !== before.member.id) window.location.reload();
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
