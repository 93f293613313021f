/**
 * The one error type for user mistakes. Its message says what is wrong and how to fix it;
 * the CLI prints it as a single line and exits with `exitCode`.
 */
export class LowbitError extends Error {
  constructor(message: string, readonly exitCode: number = 2) {
    super(message);
    this.name = 'LowbitError';
  }
}
