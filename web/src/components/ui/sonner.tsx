import type { CSSProperties } from 'react'
import { Toaster as Sonner, type ToasterProps } from 'sonner'

// Sonner reads these custom properties; point them at our theme tokens. React applies `style`
// through the CSSOM, which the Content-Security-Policy allows (unlike style attributes in markup).
const themeVariables = {
  '--normal-bg': 'var(--popover)',
  '--normal-text': 'var(--popover-foreground)',
  '--normal-border': 'var(--border)',
  '--border-radius': 'var(--radius)',
} as CSSProperties

/** App-wide toast outlet. Follows the system light/dark preference like the rest of the app. */
function Toaster(props: ToasterProps) {
  return <Sonner theme="system" className="toaster group" style={themeVariables} {...props} />
}

export { Toaster }
