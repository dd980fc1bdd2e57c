/** Calls `onCancel` when a cancel of the job's subject (an execution, an image) is announced; returns the unwatch. */
export type CancelWatch = (subjectId: string, onCancel: () => void) => () => void;

/**
 * Cancels announced with NOTIFY as `<schema>:<subject id>`, handed to whoever in this process is
 * running that subject. `hear` is the channel's listener (another schema's announcements are
 * ignored); `watch` is what a running job registers, and unregisters when it ends.
 */
export function cancelNotices(schema: string): { watch: CancelWatch; hear: (payload: string) => void } {
  const watchers = new Map<string, Set<() => void>>();
  return {
    watch(subjectId, onCancel) {
      const set = watchers.get(subjectId) ?? new Set();
      set.add(onCancel);
      watchers.set(subjectId, set);
      return () => {
        set.delete(onCancel);
        if (set.size === 0) watchers.delete(subjectId);
      };
    },
    hear(payload) {
      const [from, subjectId] = payload.split(':');
      if (from !== schema || !subjectId) return;
      for (const cancel of watchers.get(subjectId) ?? []) cancel();
    },
  };
}
