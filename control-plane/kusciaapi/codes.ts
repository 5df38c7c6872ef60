// Kuscia's KusciaAPI error codes (kuscia.proto.api.v1alpha1.ErrorCode), the
// ones Ferry answers with, and the error a handler throws to answer one.
export const Code = {
  SUCCESS: 0,
  RequestValidate: 11100,
  ForUnexpected: 11101,
  AuthFailed: 11102,
  CreateJob: 11201,
  QueryJob: 11202,
  QueryJobStatus: 11203,
  DeleteJob: 11204,
  StopJob: 11205,
  ApproveJob: 11206,
  SuspendJob: 11207,
  RestartJob: 11208,
  CancelJob: 11209,
  SuspendNotRunningJob: 11210,
  RestartNotSuspendedOrFailedJob: 11211,
  CreateDomain: 11300,
  QueryDomain: 11301,
  UpdateDomain: 11303,
  DeleteDomain: 11304,
  DomainNotExists: 11305,
  DomainExists: 11306,
  CreateDomainRoute: 11400,
  QueryDomainRoute: 11401,
  QueryDomainRouteStatus: 11402,
  DeleteDomainRoute: 11403,
  DomainRouteNotExists: 11404,
  DomainRouteExists: 11405,
  CreateAppImage: 13100,
  QueryAppImage: 13101,
  UpdateAppImage: 13102,
  DeleteAppImage: 13103,
  BatchQueryAppImage: 13104,
  AppImageNotExists: 13105,
  AppImageExists: 13106,
  ListAppImage: 13107,
} as const;

/** A handled failure: HTTP 200 (gRPC OK) with this code and message in the envelope's status. */
export class KusciaError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

export const validation = (field: string, message: string) => new KusciaError(Code.RequestValidate, `${field}: ${message}`);
