export async function runDemo(_o: { keep: boolean }): Promise<void> { throw new Error('demo not written yet'); }
