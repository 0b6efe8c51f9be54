import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { ApiError } from '../api/problem';
import { navigate } from '../routing/router';
import { signInWithToken } from './session';
import { SignInScreen } from './SignInScreen';

/**
 * `/login?token=…`: exchanges a sign-in link's token for a session, then goes to the inbox
 * in place of this address, so the token stays out of the history. A used or expired link
 * says why and offers a new one.
 */
export function LoginLinkPage({ token }: { readonly token: string | null }) {
  const qc = useQueryClient();
  const [failure, setFailure] = useState<string | null>(token ? null : 'This sign-in link has no token.');

  useEffect(() => {
    if (!token) return;
    let live = true;
    signInWithToken(qc, token).then(
      () => navigate('/', { replace: true }),
      (err: unknown) => {
        if (!live) return;
        setFailure(err instanceof ApiError ? err.detail : 'Signing in failed. Try again.');
        // The token is spent or wrong either way: drop it from the address bar.
        navigate('/login', { replace: true });
      },
    );
    return () => {
      live = false;
    };
  }, [qc, token]);

  if (failure) return <SignInScreen notice={failure} />;
  return <p className="loading-page" role="status">Signing in…</p>;
}
