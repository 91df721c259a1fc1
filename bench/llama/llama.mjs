// bench/llama: llama.cpp (node-llama-cpp's prebuilt CPU binaries) on a GGUF
// written by gguf.py, fed the token ids quill's tokenizer gives (one prompt
// a line of space-separated ids in IDS), so both engines see the same input.
//   node llama.mjs greedy MODEL.gguf IDS N_NEW
//       one line of N_NEW greedy ids per prompt (stops early at EOS)
//   node llama.mjs speed MODEL.gguf IDS BATCH N_NEW THREADS
//       the first BATCH prompts decoded together as BATCH sequences of one
//       context (llama.cpp batches them into one decode per step), top-k 50
//       sampling at temperature 1, N_NEW new tokens each; prints
//       "TOKENS SECONDS TOKENS/S" (new tokens summed over the batch, wall
//       time from the first prefill to the last token), best of 3 runs after
//       a warm-up.
// Never builds or downloads anything: build "never", skipDownload, CPU only.
import { readFileSync } from "node:fs";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [mode, modelPath, idsPath, ...rest] = process.argv.slice(2);
const prompts = readFileSync(idsPath, "utf8").trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number));
const threads = mode === "speed" ? Number(rest[2]) : 2;
const llama = await getLlama({
    gpu: false,
    build: "never",
    skipDownload: true,
    usePrebuiltBinaries: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
    maxThreads: threads,
});
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });

// Generate nNew tokens after each of ps, all at once, ps[i] in seqs[i]
// (emptied first); the ids per prompt.
async function generate(seqs, ps, nNew, opts) {
    return Promise.all(ps.map(async (p, i) => {
        await seqs[i].clearHistory();
        const out = [];
        for await (const t of seqs[i].evaluate(p, opts)) {
            out.push(t);
            if (out.length >= nNew) break;
        }
        return out;
    }));
}

if (mode === "greedy") {
    const nNew = Number(rest[0]);
    const ctx = await model.createContext({ contextSize: 256, sequences: 1, threads });
    const seqs = [ctx.getSequence()];
    for (const p of prompts) {
        const [ids] = await generate(seqs, [p], nNew, { temperature: 0 });
        console.log(ids.join(" "));
    }
} else if (mode === "speed") {
    const batch = Number(rest[0]), nNew = Number(rest[1]);
    const ps = prompts.slice(0, batch);
    if (ps.length < batch) throw new Error(`${idsPath}: ${ps.length} prompts, batch ${batch}`);
    const longest = Math.max(...ps.map((p) => p.length)) + nNew;
    // every sequence's prompt fits in one batch, so a step is one decode
    const ctx = await model.createContext({
        contextSize: batch * (longest + 8),
        sequences: batch,
        threads,
        batchSize: Math.max(512, batch * longest),
    });
    const seqs = ps.map(() => ctx.getSequence());
    let best = null;
    for (let run = 0; run < 4; run++) {
        const t0 = process.hrtime.bigint();
        const outs = await generate(seqs, ps, nNew, { temperature: 1, topK: 50, seed: 42 + run });
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        const n = outs.reduce((a, o) => a + o.length, 0);
        if (run > 0 && (!best || n / s > best[0] / best[1])) best = [n, s]; // run 0: warm-up
    }
    console.log(`${best[0]} ${best[1].toFixed(3)} ${(best[0] / best[1]).toFixed(1)}`);
} else {
    throw new Error("usage: node llama.mjs greedy|speed MODEL.gguf IDS ...");
}
// exit at once: with default settings a dispose can wait on libuv's pool
process.exit(0);
