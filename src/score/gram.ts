// J J^T in float64 by onnxruntime (Cast + Gemm), for Jacobians too large for a JS loop.
import { GraphBuilder } from '../graph/builder.js';
import { attr } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';
import { Session } from '../runtime/session.js';

export class GramSession {
  private constructor(
    private readonly session: Session,
    readonly rows: number,
    readonly cols: number,
  ) {}

  static async create(rows: number, cols: number, threads?: number): Promise<GramSession> {
    const b = new GraphBuilder('gram');
    const j = b.input('J', 'float32', [rows, cols]);
    const jd = b.cast(j, 'float64');
    b.output(b.op('Gemm', [jd, jd], { transB: attr.int(1) }, 'G'), 'float64', [rows, rows]);
    return new GramSession(await Session.create(b.build(), { threads }), rows, cols);
  }

  /** G = J J^T (rows x rows, row-major float64) for row-major J (rows x cols). */
  async gram(J: Float32Array): Promise<Float64Array> {
    const out = await this.session.run({ J: new Tensor('float32', [this.rows, this.cols], J) });
    return out.G.data as Float64Array;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
