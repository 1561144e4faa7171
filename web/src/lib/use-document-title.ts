import { useEffect } from 'react'

/** Keep `document.title` in sync with the given title while the calling component is mounted. */
export function useDocumentTitle(title: string): void {
  useEffect(() => {
    document.title = title
  }, [title])
}
