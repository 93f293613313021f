/** `lowbit run RECIPE.json [--out DIR] [--resume]`: runs a recipe with the library's recipe runner. Node-only. */
import { runRecipe } from '../../recipes/run.js';

export async function runCommand(file: string, o: { out?: string; resume?: boolean; quiet?: boolean }): Promise<void> {
  await runRecipe(file, o);
}
