import { useState, type FormEvent } from 'react';
import { ApiError } from '../api/problem';
import { requestLoginLink } from './session';

/**
 * Signing in: people have no password; they ask for a one-time link by e-mail (or an
 * operator prints one with `switchboard login-link`).
 */
export function SignInScreen({ notice }: { readonly notice?: string }) {
  const [email, setEmail] = useState('');
  const [state, setState] = useState<'idle' | 'sending' | 'sent'>('idle');
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setState('sending');
    setError(null);
    try {
      await requestLoginLink(email.trim());
      setState('sent');
    } catch (err) {
      setError(err instanceof ApiError ? [err.detail, err.fix].filter(Boolean).join(' ') : String(err));
      setState('idle');
    }
  }

  return (
    <main className="sign-in">
      <div className="sign-in-card">
        <h1>Switchboard</h1>
        {notice && <p className="notice" role="status">{notice}</p>}
        {state === 'sent' ? (
          <p role="status">If that address belongs to a member, a link is on its way. It works once, for 15 minutes.</p>
        ) : (
          <form onSubmit={submit}>
            <label htmlFor="sign-in-email">Email</label>
            <input id="sign-in-email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
            <button type="submit" className="primary" disabled={state === 'sending'}>
              Email me a sign-in link
            </button>
            {error && <p className="error-text" role="alert">{error}</p>}
          </form>
        )}
      </div>
    </main>
  );
}
