// The error every check of user input throws: it names the field, and its
// message says what to do. Its own module so that every part's checks
// (resources, jobs, runtime) share it without importing each other.
export class ValidationError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}
