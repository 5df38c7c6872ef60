// Kind names as users type them (CLI, API paths): kubectl-style aliases.
import type { Kind } from './types.ts';

const ALIASES: Record<string, Kind> = {
  domain: 'Domain', domains: 'Domain',
  clusterdomainroute: 'ClusterDomainRoute', clusterdomainroutes: 'ClusterDomainRoute', cdr: 'ClusterDomainRoute',
  route: 'ClusterDomainRoute', routes: 'ClusterDomainRoute',
  domainroute: 'DomainRoute', domainroutes: 'DomainRoute', dr: 'DomainRoute',
  service: 'Service', services: 'Service', svc: 'Service',
  kusciajob: 'KusciaJob', kusciajobs: 'KusciaJob', kj: 'KusciaJob', job: 'KusciaJob', jobs: 'KusciaJob',
  kusciatask: 'KusciaTask', kusciatasks: 'KusciaTask', kt: 'KusciaTask', task: 'KusciaTask', tasks: 'KusciaTask',
  appimage: 'AppImage', appimages: 'AppImage',
  domaindatasource: 'DomainDataSource', domaindatasources: 'DomainDataSource', dds: 'DomainDataSource',
  domaindata: 'DomainData', domaindatas: 'DomainData', dd: 'DomainData',
  domaindatagrant: 'DomainDataGrant', domaindatagrants: 'DomainDataGrant', ddg: 'DomainDataGrant',
};

export function resolveKind(text: string): Kind {
  const kind = ALIASES[text.toLowerCase()];
  if (!kind) {
    throw new Error(`unknown kind "${text}": use one of domain, clusterdomainroute (route, cdr), domainroute (dr), service (svc), kusciajob (job, kj), kusciatask (task, kt), appimage, domaindatasource (dds), domaindata (dd), domaindatagrant (ddg)`);
  }
  return kind;
}
