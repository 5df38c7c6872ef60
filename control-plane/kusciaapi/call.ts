// What a KusciaAPI call is, for the service layer and the call tables of each
// resource (jobs, app images): its own module so the tables need not
// import the layer that lists them.
import type { DataSourceDriver, SourceContext } from '../datamesh/sources.ts';
import type { ResourceStore } from '../store/store.ts';
import type { StoreKey } from '../store/secrets.ts';

/** A decoded request or response message (JSON or protobuf, by proto field names). */
export type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ServiceDeps {
  store: ResourceStore;
  domain: string;
  /** Resolves once the node's own view has seen the last write (the REST API's seen()). */
  seen: () => Promise<void>;
  /** Seals and opens DomainDataSource credentials (datamesh/secrets.ts); without it the data-source calls refuse credentials. */
  sourceKey?: StoreKey;
  /** The domain's private key (PEM): the author's signature on its DomainDataGrants. */
  domainKey?: () => string;
  /** A DomainData's driver and context (the DataMesh's resolve): DeleteDomainDataAndRaw removes the stored data with it. */
  resolveData?: (id: string) => Promise<{ driver: DataSourceDriver; ctx: SourceContext }>;
}

export interface Call {
  /** gRPC service (in the kusciaapi package) and method. */
  service: string;
  method: string;
  /** HTTP path (POST). */
  path: string;
  request: string;
  response: string;
  /** The code for an unexpected failure of this call (Kuscia's per-call code). */
  failCode: number;
  handle: (req: Msg) => Promise<Msg | undefined>;
}

/** A server-streaming call (WatchJob): start throws a KusciaError before anything is sent, else returns its stop. */
export interface StreamCall {
  service: string;
  method: string;
  path: string;
  request: string;
  response: string;
  start: (req: Msg, emit: (event: Msg) => void, end: () => void) => () => void;
}

