/** What a reader paging through the global order saw while writers ran, against a final read. */
export interface OrderingResult {
  /** Events in the final read (everything committed). */
  final: number;
  /** Deliveries the reader got, counting repeats. */
  delivered: number;
  /** In the final read, never delivered to the reader. */
  lost: number;
  /** Deliveries beyond the first of the same event. */
  duplicated: number;
  /** Deliveries whose position was not above the previous delivery's. */
  outOfOrder: number;
  /** Delivered but absent from the final read (should be impossible). */
  phantom: number;
  /** Whether the reader reached the end of the final read before the deadline. */
  caughtUp: boolean;
}

/** Tallies a reader's deliveries (id and global position, in delivery order) against the final read. */
export class DeliveryLog {
  private readonly ids: string[] = [];
  private last: bigint | undefined;
  private outOfOrder = 0;

  record(id: string, position: bigint): void {
    if (this.last !== undefined && position <= this.last) this.outOfOrder++;
    this.last = position;
    this.ids.push(id);
  }

  get delivered(): number {
    return this.ids.length;
  }

  compare(finalIds: readonly string[], caughtUp: boolean): OrderingResult {
    const seen = new Set(this.ids);
    const final = new Set(finalIds);
    let lost = 0;
    for (const id of final) if (!seen.has(id)) lost++;
    let phantom = 0;
    for (const id of seen) if (!final.has(id)) phantom++;
    return {
      final: finalIds.length,
      delivered: this.ids.length,
      lost,
      duplicated: this.ids.length - seen.size,
      outOfOrder: this.outOfOrder,
      phantom,
      caughtUp,
    };
  }
}
