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
  CreateDomainData: 11500,
  DeleteDomainData: 11501,
  GetDomainData: 11502,
  ListDomainData: 11503,
  PatchDomainData: 11505,
  DomainDataNotExists: 11506,
  DomainDataExists: 11507,
  CreateDomainDataGrant: 11700,
  UpdateDomainDataGrant: 11701,
  QueryDomainDataGrant: 11702,
  DeleteDomainDataGrant: 11703,
  DomainDataGrantExists: 11704,
  DomainDataGrantNotExists: 11705,
  CreateDomainDataSource: 11800,
  UpdateDomainDataSource: 11801,
  QueryDomainDataSource: 11802,
  BatchQueryDomainDataSource: 11803,
  DeleteDomainDataSource: 11804,
  DomainDataSourceExists: 11805,
  DomainDataSourceNotExists: 11806,
  DomainDataSourceInfoEncodeFailed: 11807,
  ListDomainDataSource: 11808,
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
