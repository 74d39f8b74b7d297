// Thumbnails as data: URIs (made with sharp), so a report is one self-contained file.
import { existsSync } from 'node:fs';
import sharp from 'sharp';

export interface Thumb {
  uri: string;
  width: number;
  height: number;
  /** the source image's size */
  srcWidth: number;
  srcHeight: number;
}

/**
 * A thumbnail that fits in size x size. Small images (MNIST) are scaled up with nearest neighbours
 * and kept as PNG so pixels stay sharp; larger ones become WebP.
 */
export async function thumbnail(file: string, size: number): Promise<Thumb> {
  let meta: sharp.Metadata;
  if (!existsSync(file)) throw new Error(`${file}: file not found`);
  try {
    meta = await sharp(file).metadata();
  } catch (e) {
    throw new Error(`${file}: cannot read the image (${shortMessage(e)})`);
  }
  const sw = meta.autoOrient?.width ?? meta.width;
  const sh = meta.autoOrient?.height ?? meta.height;
  if (!sw || !sh) throw new Error(`${file}: the image has no size`);
  const small = Math.max(sw, sh) * 2 <= size;
  try {
    const img = sharp(file).rotate().resize({ width: size, height: size, fit: 'inside', kernel: small ? 'nearest' : 'lanczos3' });
    const { data, info } = small
      ? await img.png({ compressionLevel: 9 }).toBuffer({ resolveWithObject: true })
      : await img.webp({ quality: 82 }).toBuffer({ resolveWithObject: true });
    const mime = small ? 'image/png' : 'image/webp';
    return { uri: `data:${mime};base64,${data.toString('base64')}`, width: info.width, height: info.height, srcWidth: sw, srcHeight: sh };
  } catch (e) {
    throw new Error(`${file}: cannot make a thumbnail (${shortMessage(e)})`);
  }
}

function shortMessage(e: unknown): string {
  const m = (e as Error)?.message ?? String(e);
  return m.split('\n')[0];
}

/** Makes each thumbnail once, a few at a time; failures are kept as messages instead of thrown. */
export class Thumbnails {
  private readonly done = new Map<string, Promise<Thumb | { problem: string }>>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly size: number,
    private readonly concurrency = 4,
  ) {}

  get(file: string): Promise<Thumb | { problem: string }> {
    let p = this.done.get(file);
    if (!p) {
      p = this.limit(() => thumbnail(file, this.size)).catch((e: Error) => ({ problem: e.message }));
      this.done.set(file, p);
    }
    return p;
  }

  private async limit<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
