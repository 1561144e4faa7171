import { ShieldCheck } from 'lucide-react'
import { useSyncExternalStore } from 'react'

import { Button } from '@/components/ui/button'
import { Dialog } from '@/components/ui/dialog'
import { Spinner } from '@/components/ui/spinner'
import type { VerificationStore, VerificationView } from '@/features/chat/model/verification-store'
import { useE2ee } from '@/features/chat/realtime-context'

const subscribeNothing = () => () => undefined
const IDLE: VerificationView = { step: 'idle' }

/** The emoji verification under way on this device, started here or by someone else. */
export function VerificationDialog() {
  const e2ee = useE2ee()
  const store = e2ee.status === 'ready' ? e2ee.verification : undefined
  const view = useSyncExternalStore(
    store?.subscribe ?? subscribeNothing,
    store?.getSnapshot ?? (() => IDLE),
  )
  if (!store || view.step === 'idle') return null
  const who = view.self ? 'your other device' : view.otherUser
  const finished = view.step === 'done' || view.step === 'cancelled'
  return (
    <Dialog
      open
      onClose={() => {
        if (finished) store.dismiss()
        else store.cancel()
      }}
      title={view.self ? 'Verify your device' : `Verify ${view.otherUser}`}
      className="max-w-lg"
    >
      <div data-testid="verification" data-step={view.step} className="grid gap-4">
        <Step view={view} who={who} store={store} />
      </div>
    </Dialog>
  )
}

function Step({
  view,
  who,
  store,
}: {
  view: VerificationView
  who: string
  store: VerificationStore
}) {
  switch (view.step) {
    case 'idle':
      return null
    case 'incoming':
      return (
        <>
          <p className="text-sm">
            {view.self
              ? `Another of your devices${view.otherDevice ? ` (${view.otherDevice})` : ''} wants to verify this one.`
              : `${view.otherUser} wants to verify your device${view.otherDevice ? ` from their device ${view.otherDevice}` : ''}.`}{' '}
            You will compare a few emoji on both screens.
          </p>
          <div className="flex justify-end gap-2">
            <Button
              variant="outline"
              onClick={() => {
                store.cancel()
              }}
            >
              Decline
            </Button>
            <Button
              onClick={() => {
                store.accept()
              }}
            >
              Accept
            </Button>
          </div>
        </>
      )
    case 'waiting':
      return (
        <>
          <p className="flex items-center gap-2 text-sm text-muted-foreground" role="status">
            <Spinner /> {view.message}
          </p>
          <div className="flex justify-end">
            <Button
              variant="outline"
              onClick={() => {
                store.cancel()
              }}
            >
              Cancel
            </Button>
          </div>
        </>
      )
    case 'emoji':
      return (
        <>
          <p className="text-sm">
            Check that {who} shows the same emoji, in the same order. Only then are you talking to
            the right device, with nobody in between.
          </p>
          <ol className="grid grid-cols-4 gap-2 sm:grid-cols-7" aria-label="Emoji to compare">
            {view.emoji.map((emoji, index) => (
              <li
                // The same emoji can come twice: the position is part of its identity.
                key={index}
                className="grid justify-items-center gap-1 rounded-md border p-2 text-center"
                data-testid="sas-emoji"
              >
                <span className="text-3xl" aria-hidden>
                  {emoji.symbol}
                </span>
                <span className="text-xs">{emoji.description}</span>
              </li>
            ))}
          </ol>
          {view.confirmed ? (
            <p className="flex items-center gap-2 text-sm text-muted-foreground" role="status">
              <Spinner /> Waiting for {who} to confirm…
            </p>
          ) : (
            <div className="flex justify-end gap-2">
              <Button
                variant="outline"
                onClick={() => {
                  store.cancel()
                }}
              >
                They don’t match
              </Button>
              <Button
                onClick={() => {
                  store.confirm()
                }}
              >
                They match
              </Button>
            </div>
          )}
        </>
      )
    case 'done':
      return (
        <>
          <p className="flex items-center gap-2 text-sm" role="status">
            <ShieldCheck className="size-5 text-success" />
            {view.self ? 'Your device is verified.' : `${view.otherUser} is verified.`}
          </p>
          <div className="flex justify-end">
            <Button
              onClick={() => {
                store.dismiss()
              }}
            >
              Done
            </Button>
          </div>
        </>
      )
    case 'cancelled':
      return (
        <>
          <p className="text-sm" role="alert">
            {view.reason}
          </p>
          <div className="flex justify-end">
            <Button
              variant="outline"
              onClick={() => {
                store.dismiss()
              }}
            >
              Close
            </Button>
          </div>
        </>
      )
  }
}
